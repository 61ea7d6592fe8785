/* The test guest's flat image, linked into the hypervisor (scenarios copy it into VMs). */
	.section .rodata
	.globl guest_image_start, guest_image_end
	.balign 16
guest_image_start:
	.incbin GUEST_BIN
guest_image_end:
