/* phx-limits.h — every bound phoenix-ga enforces, in one place.
 * Nothing else in the tree may hard-code a size, count or depth limit. */
#pragma once

/* Longest request line (bytes, excluding the newline). A 48 MiB file-write chunk is
 * 64 MiB of base64, plus the envelope; longer lines are drained and answered with an error. */
#define PHX_REQUEST_MAX ((gsize) 80 * 1024 * 1024)

/* Deepest JSON nesting accepted. Real requests nest three levels; the bound keeps the
 * parser's recursion (and so its stack) small whatever the host sends. */
#define PHX_JSON_DEPTH_MAX 32

/* Lines at least this long are parsed in a worker thread so the main loop keeps serving. */
#define PHX_REQUEST_OFFLOAD_MIN ((gsize) 256 * 1024)

/* file-read: default and largest `count`. */
#define PHX_READ_COUNT_DEFAULT 4096
#define PHX_READ_COUNT_MAX ((gint64) 48 * 1024 * 1024)

/* Open file handles at once; one more answers EMFILE. */
#define PHX_HANDLES_MAX 128

/* A read on a pipe, socket or character device with nothing to give returns empty after
 * this long; a write to one that takes nothing fails with ETIMEDOUT after it. Closing the
 * handle, or the host leaving, ends the wait at once. */
#define PHX_STREAM_WAIT_MS 10000

/* Read size used when hashing or copying files. */
#define PHX_IO_CHUNK ((gsize) 1024 * 1024)

/* Reply parts gathered into one writev(2). */
#define PHX_WRITE_BATCH 64

/* Replies shorter than this are appended to a shared output block instead of queued one by
 * one: a million unread pings then cost their bytes, not a million GBytes. */
#define PHX_REPLY_COALESCE_MAX ((gsize) 4 * 1024)
#define PHX_OUTPUT_BLOCK ((gsize) 64 * 1024)

/* Bytes taken from the port in one read(2). */
#define PHX_CHANNEL_READ_CHUNK ((gsize) 64 * 1024)

/* The memory budget (PhxBudget): bytes of requests accepted and not yet answered, replies
 * a running command will produce (file-read's count, as base64) and replies queued for a host
 * that has not read them. Above it the agent stops reading requests and holds back commands
 * that would produce large replies, until hosts drain what they were sent; a host that never
 * reads cannot make the agent grow. Reading resumes below the low mark. */
#define PHX_BUDGET_HIGH ((gsize) 128 * 1024 * 1024)
#define PHX_BUDGET_LOW ((gsize) 96 * 1024 * 1024)

/* What one waiting request costs beyond its bytes (invocation, arguments, queue links),
 * measured with 300,000 small requests held behind a blocked one. */
#define PHX_CALL_OVERHEAD ((gsize) 1024)

/* Line buffers larger than this are released after use instead of kept for the next line. */
#define PHX_LINEBUF_KEEP ((gsize) 64 * 1024)

/* directory-list: entries returned at most, whatever `n` says: the first ones by name. Each
 * entry costs about 6 KB at the reply's peak (json-glib tree and text), so 32768 entries
 * peak near 200 MB, well inside PHX_MEMORY_HWM_MAX. */
#define PHX_DIRLIST_MAX 32768
/* What one listed entry costs at the listing's peak (its stat object in the JSON tree and
 * its text), measured with 200,000 entries; the memory budget charges a listing by it. */
#define PHX_DIRLIST_ENTRY_COST ((gsize) 6 * 1024)

/* Listening transports: connections not yet accepted the kernel may hold (clients served at
 * once: see "several clients" at the end); a burst of clients past it is refused by the
 * kernel (EAGAIN for a non-blocking connect on a unix socket). Also the most accepted in
 * one wake-up. */
#define PHX_LISTEN_BACKLOG 16

/* Heap churn (bytes of requests and replies, plus PHX_CALL_OVERHEAD each) after which an
 * agent that has answered everything and flushed every reply hands freed heap pages back
 * with malloc_trim(). */
#define PHX_TRIM_AFTER ((gsize) 256 * 1024)

/* Worker threads. Commands that may take unbounded time (reads and writes on handles,
 * hashes, listings) run in their own pool, so that sixty reads blocked on silent pipes
 * cannot delay a file-stat; large request lines are parsed by one thread of their own, so a
 * ping behind one never waits for a worker. */
#define PHX_WORKERS_LONG 16
#define PHX_WORKERS_SHORT 8

/* Log lines kept in memory while frozen; older ones are dropped (and counted). */
#define PHX_LOG_HELD_MAX 512

/* Default seconds after which a freeze nobody lifted is lifted by the agent (0 = never). */
#define PHX_FREEZE_TIMEOUT_DEFAULT 600

/* Seconds an --fsfreeze-hook invocation may take. */
#define PHX_FREEZE_HOOK_TIMEOUT 60

/* At exit, how long the last replies may take to leave the port. */
#define PHX_EXIT_LINGER_MS 1000

/* Character devices: how long after a request read while the port still reported HUP the
 * host's arrival may be confirmed (see on_port_event in phx-channel.c). */
#define PHX_CONNECT_SETTLE_US ((gint64) 1000 * 1000)

/* ---- Links, ownership and modes; trusted files (util-path.c, phx-file.c, phx-channel.c,
 * phx-config.c) ---- */

/* Symbolic links followed in one path walk before ELOOP, as the kernel's own limit. */
#define PHX_PATH_LINKS_MAX 40

/* Mode of the unix-listen socket unless --socket-mode widens it: root only. */
#define PHX_SOCKET_MODE_DEFAULT 0600

/* Names tried for a named temporary file (atomic writes where O_TMPFILE is unsupported,
 * the listening socket before its rename) before giving up with EEXIST. */
#define PHX_TEMP_NAME_TRIES 16

/* Extended attributes copied to an atomic replacement: the list, and one value. */
#define PHX_XATTR_LIST_MAX ((gsize) 64 * 1024)
#define PHX_XATTR_VALUE_MAX ((gsize) 64 * 1024)

/* Largest configuration file read; it holds a dozen keys. */
#define PHX_CONFIG_SIZE_MAX ((gsize) 64 * 1024)

/* --- hostile host: bounds on what one request or one listing can cost --- */

/* The agent's promised peak memory (VmHWM) whatever the host sends; tests/hostile parses
 * this line and fails when an attack pushes the agent past it. */
#define PHX_MEMORY_HWM_MAX ((gsize) 512 * 1024 * 1024)

/* JSON values (objects, arrays, strings, numbers, literals) in one request. No command takes
 * more than a dozen; each value costs a few hundred bytes of json-glib tree, so this keeps one
 * request's tree to a few MB however its line is shaped. */
#define PHX_JSON_NODES_MAX 10000

/* --- freeze: candidates, marker, hook --- */

/* Block devices followed below one filesystem (dm and md slaves, partitions' disks, loop
 * devices) when looking for a backing file that orders the freeze. Real stacks are a few deep. */
#define PHX_FREEZE_LOWER_MAX 64

/* Largest frozen-state marker read back at start (it lists mountpoints, one per line). */
#define PHX_FREEZE_MARKER_MAX ((gsize) 1024 * 1024)

/* ---- D-Bus state (phx-dbus.c) ---- */

/* CommandsServed, CommandsFailed, LastCommand and OpenHandles change with every request;
 * they are published on the bus at most once per this many milliseconds (the first change
 * after a quiet interval at once), so a busy port costs a few bus messages a second, not one
 * per request. */
#define PHX_DBUS_PUBLISH_MS 250

/* --- running commands (cmd-exec.c, exec-process.c) --- */

/* Commands running, or finished and not yet collected with exec-status, at once. */
#define PHX_EXEC_MAX 64

/* Output kept per stream of one command; what comes after is read and dropped (the command
 * does not block) and the status says truncated. qemu-ga's figure. */
#define PHX_EXEC_CAPTURE_MAX ((gsize) 16 * 1024 * 1024)

/* Captured output of all commands together: PHX_EXEC_MAX commands at PHX_EXEC_CAPTURE_MAX
 * each would be 2 GiB; this keeps them inside PHX_MEMORY_HWM_MAX. */
#define PHX_EXEC_CAPTURE_TOTAL_MAX ((gsize) 128 * 1024 * 1024)

/* Bytes of each stream in one status reply: two streams in base64 (8 MiB) stay under
 * libvirt's 10 MiB reply limit (QEMU_AGENT_MAX_RESPONSE). */
#define PHX_EXEC_STATUS_PAGE ((gsize) 3 * 1024 * 1024)

/* After the command has exited, how long its output pipes may stay open (held by a child it
 * left running) before the agent stops waiting for them and reports it exited. */
#define PHX_EXEC_PIPE_GRACE_MS 2000

/* A finished command nobody asked about is forgotten after this long. */
#define PHX_EXEC_RECORD_TTL_S 600

/* Bytes read from an output pipe at a time. */
#define PHX_EXEC_READ_CHUNK ((gsize) 64 * 1024)

/* The longest timeout a host may set (a week). */
#define PHX_EXEC_TIMEOUT_MAX_S (7 * 24 * 3600)

/* --- accounts (accounts-keys.c) --- */

/* Largest authorized_keys file read (a few thousand keys). */
#define PHX_KEYS_FILE_MAX ((gsize) 1024 * 1024)

/* Groups of a user taken on while their keys are written; more are cut to the primary. */
#define PHX_ACCOUNT_GROUPS_MAX 256

/* Buffer for one passwd entry from NSS. */
#define PHX_ACCOUNT_NSS_BUF ((gsize) 16 * 1024)


/* ---- system information (sysinfo-*.c) ---- */

/* Largest os-release(5) file read; real ones are under 1 KiB. */
#define PHX_OS_RELEASE_MAX ((gsize) 64 * 1024)

/* Largest utmp file read: 384 bytes a record, so some 40000 logins. */
#define PHX_UTMP_MAX ((gsize) 16 * 1024 * 1024)

/* logind session files looked at per request, and the largest one read (they are a few
 * hundred bytes); a guest with more sessions reports the first ones found. */
#define PHX_LOGIND_SESSIONS_MAX 4096
#define PHX_LOGIND_SESSION_FILE_MAX ((gsize) 64 * 1024)

/* /proc/loadavg is one short line; /proc/stat grows with CPUs and interrupts (a
 * 1024-CPU machine writes some hundreds of KiB). */
#define PHX_PROC_LOADAVG_MAX ((gsize) 4096)
#define PHX_PROC_STAT_MAX ((gsize) 8 * 1024 * 1024)

/* --- network listings (phx-netlink.c) --- */

/* Times a netlink dump is asked for again when the kernel marks it interrupted (a link,
 * address or route changed while it was read). Each retry costs one dump; a table that
 * keeps changing this often is reported as EAGAIN rather than read forever. */
#define PHX_NETLINK_DUMP_TRIES 5

/* Routes one listing (get-route-list, guest-network-get-route) returns. A guest that carries a
 * full Internet table (a BGP router: about a million routes) would make a reply of hundreds
 * of MB and a JSON tree past PHX_MEMORY_HWM_MAX. An IPv4 route in qemu-ga's form is about
 * 200 bytes (measured: 50,000 made 10.2 MB), so 40,000 stay near 8 MB, under libvirt's 10 MiB
 * reply cap even with long device names. Past it the listing fails (EMSGSIZE) instead of
 * handing back a part that looks whole. */
#define PHX_NET_ROUTES_MAX 40000

/* ---- storage: guest-get-fsinfo, guest-get-disks, guest-fstrim, guest-get-diskstats ---- */

/* Levels of device-mapper/md slaves followed from a filesystem's device down to the disks
 * guest-get-fsinfo reports (LVM on LUKS on a partition is three). A loop in sysfs cannot
 * make the walk endless. */
#define PHX_STORAGE_SLAVES_DEPTH 16

/* Largest sysfs attribute or udev database file read (uevent, dm/name, serial, b<M>:<m>). */
#define PHX_STORAGE_ATTR_MAX ((gsize) 64 * 1024)

/* Mounts (guest-get-fsinfo, guest-fstrim) and block devices (guest-get-disks,
 * guest-get-diskstats) listed in one reply; qemu-ga has no bound, and a guest with more has
 * a problem no listing solves. */
#define PHX_STORAGE_ENTRIES_MAX 10000

/* ---- power: qemu-ga's guest-suspend-* (power-sysfs.c) ---- */

/* Largest /sys/power file read (state, disk, resume hold a line of a few words). */
#define PHX_POWER_SYSFS_READ_MAX 4096

/* --- power (power-shutdown.c) --- */

/* Seconds a shutdown program (systemctl, shutdown, poweroff) has to accept the request
 * before the next way is tried. */
#define PHX_SHUTDOWN_PROGRAM_S 30


/* ---- qemu-ga's file commands and file transfers (cmd-handles.c, phx-file.c,
 * phx-handle-table.c, phx-spare-buffer.c) ---- */

/* file-write and guest-file-write decode their base64 this many bytes of text at a time
 * (48 KiB of data) into one small buffer, writing each piece before decoding the next: no
 * buffer the size of the data, and the bytes the kernel copies are still in the cache. A
 * multiple of 4. */
#define PHX_WRITE_PIECE ((gsize) 64 * 1024)

/* Handle ids claimed ahead in the runtime directory's handle-ids file: one write per this
 * many file-opens, and a restart skips at most this many ids. */
#define PHX_HANDLE_ID_BLOCK 1024

/* Largest handle id read back from that file; ids stay below 2^53 so that hosts that read
 * JSON numbers as doubles (JavaScript) still read them exactly. */
#define PHX_HANDLE_ID_MAX ((gint64) 1 << 52)

/* A file-read buffer at least this large is prefaulted in one call (MADV_POPULATE_WRITE). */
#define PHX_PREFAULT_MIN ((gsize) 256 * 1024)

/* The largest file-read buffer kept for the next read while a handle is open (one buffer,
 * freed when the last handle closes): reads of up to 6 MiB, as base64, reuse their pages. */
#define PHX_READ_SPARE_MAX ((gsize) 8 * 1024 * 1024 + 1)

/* ---- Several clients on listening transports, vsock (phx-channel.c, phx-connection.c) ---- */

/* Clients served at once on unix-listen and vsock-listen unless --clients-max says otherwise,
 * and the most it may say. One more is told so in one line and let go. */
#define PHX_CLIENTS_DEFAULT 8
#define PHX_CLIENTS_LIMIT 64

/* Replies one client may leave unread, and requests of it that may run at once, before the
 * agent stops reading its requests (it resumes when half of either is gone): a client that
 * never reads costs about this much, not the whole budget, so the others keep being served.
 * While it is behind it is read PHX_CLIENT_READ_SMALL bytes at a time, so that one read
 * cannot overshoot by thousands of requests. PHX_CLIENTS_LIMIT such clients stay well
 * within PHX_BUDGET_HIGH (each request is charged PHX_CALL_OVERHEAD at least). */
#define PHX_CLIENT_QUEUE_HIGH ((gsize) 256 * 1024)

/* Replies of large commands (a file-read's) one client of a listening socket may have made or
 * in the making, unread, at once: past it its next large command waits for it to read (the
 * first always runs). So a client that hoards takes at most this share of PHX_BUDGET_HIGH,
 * and another client's large commands find room. */
#define PHX_CLIENT_REPLY_SHARE (PHX_BUDGET_HIGH / 4)
#define PHX_CLIENT_PENDING_MAX 128
#define PHX_CLIENT_READ_SMALL ((gsize) 4096)

/* Seconds a client may send nothing while nothing of it runs and nothing is owed to it, and
 * seconds it may leave its replies unread, before it is disconnected (0 = never); the most
 * either may be set to. */
#define PHX_CLIENT_IDLE_TIMEOUT_DEFAULT 600
#define PHX_CLIENT_STALL_TIMEOUT_DEFAULT 60
#define PHX_CLIENT_TIMEOUT_MAX (7 * 24 * 3600)

/* vsock: the host's address; by default only it may connect (not the guest's own users
 * through the loopback CID 1, nor nested VMs). */
#define PHX_VSOCK_HOST_CID 2

/* ---- vCPUs and memory blocks (sysfs-cpumem.c, phx-uevent.c, cmd-cpumem.c) ---- */

/* vCPUs listed by guest-get-vcpus: the kernel's own ceiling (NR_CPUS of distribution
 * kernels is 8192); a sysfs with more entries is refused rather than listed without end. */
#define PHX_VCPUS_MAX 8192

/* Memory blocks listed by guest-get-memory-blocks. x86 uses 128 MiB blocks below 64 GiB of
 * RAM and 2 GiB above, so 64 Ki blocks cover far more memory than a guest has; the reply
 * stays under ~5 MB. */
#define PHX_MEMORY_BLOCKS_MAX 65536

/* One kernel uevent: the kernel's own buffer for one is 2 KiB of environment plus the
 * header; a larger datagram is truncated and ignored. */
#define PHX_UEVENT_SIZE_MAX ((gsize) 8 * 1024)

/* Uevents read in one wake-up before the main loop gets its turn back (the rest stay in the
 * socket for the next iteration): a hot-added DIMM of 64 GiB is 512 events at once. */
#define PHX_UEVENT_BATCH_MAX 64

/* Receive buffer of the uevent socket (set with SO_RCVBUFFORCE as root): the kernel
 * charges ~1 KiB per queued event, so a burst of ~4000 events fits; past it the kernel drops
 * events (ENOBUFS, logged). */
#define PHX_UEVENT_RCVBUF (4 * 1024 * 1024)

/* Hot-added vCPUs and memory blocks waiting to be brought online: one DIMM's blocks or one
 * burst of vCPUs is far below; more are dropped with a warning rather than queued without
 * end. */
#define PHX_HOTPLUG_PENDING_MAX 16384

/* ---- the login terminal (cmd-login.c, login-session.c, login-pty.c) ---- */

/* Login sessions at once (each a shell on a pseudo-terminal, a connection taken over): a
 * rescue console, not a terminal server. Past it `login` answers EAGAIN. */
#define PHX_LOGIN_SESSIONS_MAX 4

/* Payload of one frame of the terminal stream, either way: a larger host frame cannot be
 * resynchronised and closes the connection. Output is read from the terminal in pieces of
 * this size. */
#define PHX_LOGIN_FRAME_MAX ((gsize) 64 * 1024)

/* Terminal output waiting for the host to read it: past it the terminal is not read (its
 * programs block on their writes, as on a slow serial line) until the queue has drained. */
#define PHX_LOGIN_OUTPUT_QUEUE ((gsize) 256 * 1024)

/* After a hang-up, how long the shell has to exit on its SIGHUP before its process group is
 * killed (a shell that ignores SIGHUP would otherwise hold a session slot for ever). */
#define PHX_LOGIN_HANGUP_GRACE_MS 5000

/* A terminal name (TERM): it names a terminfo file, so only a plain name is taken. */
#define PHX_LOGIN_TERM_MAX 64
