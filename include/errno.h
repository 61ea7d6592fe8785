/*
 * Error codes: functions return 0 or a positive count on success and a negative code from
 * this list on failure (errno style). Hypercalls return the same codes to guests.
 */
#ifndef EPTVISOR_ERRNO_H
#define EPTVISOR_ERRNO_H

#define EPERM   1  /* operation not permitted (e.g. hypervisor-owned memory) */
#define ENOENT  2  /* no such entry / nothing mapped */
#define EIO     5  /* I/O or hardware failure */
#define EAGAIN  11 /* not now, or not this way: try again (e.g. the slow path) */
#define ENOMEM  12 /* out of frames or heap */
#define EFAULT  14 /* bad guest address (outside every memslot) */
#define EBUSY   16 /* resource in use */
#define EEXIST  17 /* already mapped / already exists */
#define ENODEV  19 /* feature missing on this CPU */
#define EINVAL  22 /* malformed argument */
#define ERANGE  34 /* value out of range */
#define ENOSYS  38 /* no such hypercall */
#define E2BIG   7  /* length too large */
#define ENOEXEC 8  /* not an image eptvisor can load */
#define ENOSPC  28 /* no room (e.g. guest RAM too small for the image) */
#define ENOTSUP 95 /* not supported (e.g. a paging mode we do not walk) */

/* Started, not done: wait for it (a page a slow store is fetching, vmx/store.h). */
#define EINPROGRESS 115

#endif
