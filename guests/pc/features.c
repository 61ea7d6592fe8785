#include "guests/pc/pc.h"
void ap_main(u32 index) { (void)index; halt_forever(); }
void pc_main(u32 magic, u32 info) { (void)magic; (void)info; uart_init(); pc_exit(0); }
