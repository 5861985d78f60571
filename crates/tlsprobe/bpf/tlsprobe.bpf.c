// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// httptop-tlsprobe: uprobes on OpenSSL's SSL_read/SSL_write(_ex) that copy the plaintext the
// application hands to (or gets from) the TLS library into a BPF ring buffer, plus raw
// tracepoints on the socket layer's sock_send_length/sock_recv_length (or, before Linux 6.3,
// on sys_enter) that learn the TCP 4-tuple of the socket a thread writes to or reads from
// while it is inside one of those calls.
//
// No vmlinux.h: the kernel structures read here are declared below with only the fields
// used, marked preserve_access_index, so the loader (aya) relocates the offsets against the
// running kernel's BTF (CO-RE). The build needs clang and libbpf-dev's headers only, not the
// build machine's kernel BTF.
//
// The record layout (struct head, then its data) is mirrored by crates/tlsprobe/src/record.rs; change both.

#include <linux/bpf.h>
#include <linux/types.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

// The most plaintext bytes one record carries; a call that moved more is split into
// records of MAX_DATA bytes, at most MAX_CHUNKS of them (MAX_CALL bytes), the rest of
// the call a counted gap. User space sets CAPTURE_BYTES (per call) at most MAX_CALL.
#define MAX_DATA 16384
#define MAX_CHUNKS 16
#define MAX_CALL (MAX_DATA * MAX_CHUNKS)
#define AF_INET 2
#define AF_INET6 10

// ---- configuration, set by user space before load (.rodata) ----
volatile const __u32 CAPTURE_BYTES = MAX_CALL;
volatile const __u32 TARGET_TGID = 0; // 0 = every process
// 1: every uprobe program returns at once (benches/tls-plaintext.sh -t: the cost of the
// traps alone); the verifier prunes the rest.
volatile const __u32 TRAPS_ONLY = 0;

// ---- minimal CO-RE views of the kernel's socket ----
struct in6_addr___tp {
	__u8 s6_addr[16];
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr___tp skc_v6_daddr;
	struct in6_addr___tp skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct socket;

struct sock {
	struct sock_common __sk_common;
	struct socket *sk_socket;
} __attribute__((preserve_access_index));

// ---- maps ----

enum kind { KIND_WRITE = 0, KIND_READ = 1, KIND_FREE = 2, KIND_HANDSHAKE = 3, KIND_EXIT = 4 };

// conn.flags / event.flags
#define F_FROM_START 1 // the probe saw the connection's handshake: offset 0 is its first byte

// Counters (per CPU, summed by user space). Keep in sync with record.rs `Counter`.
enum counter {
	C_EVENTS = 0,      // records written to the ring buffer
	C_LOST = 1,        // records the ring buffer had no room for (a gap in that stream)
	C_TRUNCATED = 2,   // records carrying fewer bytes than the call moved (a gap too)
	C_READ_FAULT = 3,  // bpf_probe_read_user of the buffer failed (a gap)
	C_ACTIVE_FULL = 4, // entry probe could not remember the call (call not seen)
	C_CONN_FULL = 5,   // connection table could not take a new connection
	C_TUPLE_SEEN = 6,  // 4-tuples learned from a socket system call (once per connection)
	C_NR = 7,
};

struct tuple {
	__u8 saddr[16]; // local address (IPv4 in the first 4 bytes)
	__u8 daddr[16]; // remote address
	__u16 sport;    // local port, host order
	__u16 dport;    // remote port, host order
	__u16 family;   // 0 = unknown, AF_INET, AF_INET6
	__u16 pad;
};

// One SSL call in progress, per thread: what the return probe needs.
struct call {
	__u64 ssl;
	__u64 buf;
	__u64 out_len; // SSL_*_ex: user pointer to the size_t result; 0 otherwise
	__u32 kind;
	__u16 active; // a call is in progress (a fresh slot is all zeroes: none)
	__u16 known;  // the connection's tuple was known at entry: the socket hook has nothing to learn
	struct tuple tuple; // learned by the socket hook during the call
};

struct conn_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

// One connection (process + SSL object): its 4-tuple and the bytes moved each way so far,
// so every record carries its stream offset and user space sees any lost bytes as a gap.
struct conn {
	struct tuple tuple;
	__u64 offset[2]; // by kind: write, read
	__u32 flags;
	__u32 pad;
};

// A record's header; its data (event.len bytes) follows it in the ring buffer.
struct head {
	__u64 ts_ns;  // bpf_ktime_get_ns (CLOCK_MONOTONIC)
	__u64 ssl;    // SSL* in the process
	__u64 offset; // stream offset of the first byte (bytes moved this direction before)
	__u32 tgid;
	__u32 tid;
	__u32 len;    // bytes of data in this record
	__u32 total;  // bytes the call moved
	__u32 kind;
	__u32 flags;        // F_FROM_START
	struct tuple tuple;
	char comm[16];
	__u64 other_offset; // bytes moved the other way so far (Closed: bytes read)
};

#define HEADER_SIZE sizeof(struct head)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); // user space may change it before load
} EVENTS SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_NR);
	__type(key, __u32);
	__type(value, __u64);
} COUNTERS SEC(".maps");

// The SSL call a thread is in, in the thread's own storage (no hashing, no update or delete
// per call, freed with the thread).
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call);
} ACTIVE SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536); // user space may change it before load
	__type(key, struct conn_key);
	__type(value, struct conn);
} CONNS SEC(".maps");

// Records are written without waking the reader (it drains the ring on a timer: a wakeup
// per record cost a context switch per SSL call), unless the ring is a quarter full.
static __always_inline __u64 ring_flags(void)
{
	__u64 avail = bpf_ringbuf_query(&EVENTS, BPF_RB_AVAIL_DATA);
	__u64 size = bpf_ringbuf_query(&EVENTS, BPF_RB_RING_SIZE);
	return avail >= size / 4 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

// Processes (thread group ids) that have a connection in CONNS: their exit is reported
// (KIND_EXIT), since a process that dies never calls SSL_free.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u8);
} PIDS SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&COUNTERS, &which);
	if (v)
		*v += 1;
}

static __always_inline int wanted(__u64 pid_tgid)
{
	if (TRAPS_ONLY)
		return 0;
	__u32 target = TARGET_TGID;
	return target == 0 || (__u32)(pid_tgid >> 32) == target;
}

// A new connection entry; its process is remembered so that its exit is reported.
static __always_inline void new_conn(struct conn_key *key, struct conn *fresh)
{
	if (bpf_map_update_elem(&CONNS, key, fresh, BPF_NOEXIST) != 0) {
		count(C_CONN_FULL);
		return;
	}
	__u8 one = 1;
	bpf_map_update_elem(&PIDS, &key->tgid, &one, BPF_ANY);
}

// Threads inside an SSL call whose connection's 4-tuple is not known (entry: call slots
// active and not known). The socket hooks run for every socket send and
// receive on the host; while this is 0 (the usual case: a connection's tuple is learned at
// its first call) they return after one load. A thread that dies inside such a call is
// taken out at its exit (proc_exit); should one still escape, the hooks merely keep doing
// their lookup.
__u64 need_tuple = 0;

static __always_inline void need_tuple_add(__s64 d)
{
	__sync_fetch_and_add(&need_tuple, d);
}

static __always_inline struct call *this_call(int create)
{
	return bpf_task_storage_get(&ACTIVE, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline int enter_ssl(struct pt_regs *ctx, __u64 id, __u64 ssl, __u32 kind, int ex)
{
	struct call *c = this_call(1);
	if (!c) {
		count(C_ACTIVE_FULL);
		return 0;
	}
	if (c->active && !c->known)
		need_tuple_add(-1); // a call that never returned (or a nested one): it is replaced
	c->ssl = ssl;
	c->buf = (__u64)PT_REGS_PARM2(ctx);
	c->out_len = ex ? (__u64)PT_REGS_PARM4(ctx) : 0;
	c->kind = kind;
	c->active = 1;
	c->tuple.family = 0;
	// A connection whose tuple is known already: the socket hook has nothing to learn.
	struct conn_key key = {.ssl = ssl, .tgid = (__u32)(id >> 32)};
	struct conn *cn = bpf_map_lookup_elem(&CONNS, &key);
	c->known = cn && cn->tuple.family != 0;
	if (!c->known)
		need_tuple_add(1);
	return 0;
}

static __always_inline int enter(struct pt_regs *ctx, __u32 kind, int ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!wanted(id))
		return 0;
	return enter_ssl(ctx, id, (__u64)PT_REGS_PARM1(ctx), kind, ex);
}

// SSL_do_handshake returned (SSL_connect/SSL_accept call it too): the connection starts
// here, so its offsets count from its first byte; keep the tuple the handshake's socket
// calls showed. A handshake that needs more calls (non-blocking) just repeats this.
static __always_inline void handshake_done(struct call *c, __u64 id)
{
	struct conn_key key = {.ssl = c->ssl, .tgid = (__u32)(id >> 32)};
	struct conn *cn = bpf_map_lookup_elem(&CONNS, &key);
	if (!cn) {
		struct conn fresh = {};
		fresh.flags = F_FROM_START;
		fresh.tuple = c->tuple;
		new_conn(&key, &fresh);
		return;
	}
	if (cn->offset[0] == 0 && cn->offset[1] == 0)
		cn->flags |= F_FROM_START;
	if (cn->tuple.family == 0 && c->tuple.family != 0)
		cn->tuple = c->tuple;
}

// One record into the ring buffer: the header, then `len` bytes read from the user buffer
// `buf` straight into the reserved space (no staging copy). A reservation's size must be a
// constant for the verifier, so it is the smallest of a few size classes that holds the
// data (at most twice the bytes; user space reads `len`).
// min(n, max) computed in the very register later passed to the helper, so that the
// verifier sees the bound (clang otherwise reuses a copy it knows to be equal).
static __always_inline __u64 clamp_len(__u64 n, const __u64 max)
{
	asm volatile("if %[n] <= %[max] goto +1;\n"
		     "%[n] = %[max];\n"
		     : [n] "+r"(n)
		     : [max] "i"(max));
	return n;
}

#define EMIT_CLASS(SZ)                                                                     \
	if (len <= (SZ)) {                                                                 \
		__u8 *r = bpf_ringbuf_reserve(&EVENTS, HEADER_SIZE + (SZ), 0);             \
		if (!r) {                                                                  \
			count(C_LOST);                                                     \
			return 0;                                                          \
		}                                                                          \
		__u64 n = clamp_len(len, (SZ));                                            \
		if (n > 0 && bpf_probe_read_user(r + HEADER_SIZE, n, (void *)buf) != 0) { \
			count(C_READ_FAULT);                                               \
			n = 0;                                                             \
		}                                                                          \
		h->len = n;                                                                \
		if (n < h->total)                                                          \
			count(C_TRUNCATED);                                                \
		__builtin_memcpy(r, h, HEADER_SIZE);                                       \
		bpf_ringbuf_submit(r, wake);                                               \
		count(C_EVENTS);                                                           \
		return 1;                                                                  \
	}

// Returns 1 when the record was written, 0 when the ring had no room (counted lost).
static __always_inline int emit(struct head *h, __u64 buf, __u32 len)
{
	__u64 wake = ring_flags();
	if (len == 0) {
		h->len = 0;
		if (bpf_ringbuf_output(&EVENTS, h, HEADER_SIZE, wake) != 0) {
			count(C_LOST);
			return 0;
		}
		count(C_EVENTS);
		return 1;
	}
	EMIT_CLASS(128)
	EMIT_CLASS(256)
	EMIT_CLASS(512)
	EMIT_CLASS(1024)
	EMIT_CLASS(2048)
	EMIT_CLASS(4096)
	EMIT_CLASS(8192)
	EMIT_CLASS(MAX_DATA)
	return 0;
}

static __always_inline int leave(struct pt_regs *ctx, int ex)
{
	if (TRAPS_ONLY)
		return 0;
	struct call *c = this_call(0);
	if (!c || !c->active)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 kind = c->kind;
	c->active = 0;
	if (!c->known)
		need_tuple_add(-1);
	if (kind == KIND_HANDSHAKE) {
		handshake_done(c, id);
		return 0;
	}
	int ret = (int)PT_REGS_RC(ctx); // both forms return int: the upper half of the register is not theirs
	__u64 moved = 0;
	if (ex) {
		if (ret > 0 && c->out_len) { // _ex: 1; the internal functions: > 0
			__u64 n = 0;
			if (bpf_probe_read_user(&n, sizeof(n), (void *)c->out_len) == 0)
				moved = n;
		}
	} else if (ret > 0) {
		moved = (__u64)ret;
	}
	if (moved == 0 || kind > KIND_READ)
		return 0;

	struct head h = {};
	// The connection: create on first sight, adopt a tuple learned during this call.
	struct conn_key key = {.ssl = c->ssl, .tgid = (__u32)(id >> 32)};
	struct conn *cn = bpf_map_lookup_elem(&CONNS, &key);
	if (!cn) {
		struct conn fresh = {};
		new_conn(&key, &fresh);
		cn = bpf_map_lookup_elem(&CONNS, &key);
	}
	if (cn) {
		if (cn->tuple.family == 0 && c->tuple.family != 0)
			cn->tuple = c->tuple;
		h.tuple = cn->tuple;
		h.offset = cn->offset[kind & 1];
		h.other_offset = cn->offset[(kind & 1) ^ 1];
		h.flags = cn->flags;
		cn->offset[kind & 1] += moved;
	} else {
		h.tuple = c->tuple;
	}
	h.ts_ns = bpf_ktime_get_ns();
	h.ssl = c->ssl;
	h.tgid = (__u32)(id >> 32);
	h.tid = (__u32)id;
	h.kind = kind;
	bpf_get_current_comm(h.comm, sizeof(h.comm));

	// A call that moved more than one record holds goes out as consecutive records of
	// MAX_DATA bytes (their offsets say where each belongs) while the capture allows;
	// the last one carries what is left of the capture and counts the rest of the call
	// in its total (a gap). A record the ring has no room for is a gap too.
	__u64 buf = c->buf;
	__u64 cap = CAPTURE_BYTES;
	__u64 done = 0;
	for (int i = 0; i < MAX_CHUNKS - 1; i++) {
		if (moved - done <= MAX_DATA || cap <= done + MAX_DATA)
			break;
		h.total = MAX_DATA;
		emit(&h, buf + done, MAX_DATA);
		done += MAX_DATA;
		h.offset += MAX_DATA;
	}
	__u64 rest = moved - done;
	h.total = rest > 0xffffffff ? 0xffffffff : (__u32)rest;
	__u64 len = rest;
	if (len > MAX_DATA)
		len = MAX_DATA;
	if (done + len > cap)
		len = cap > done ? cap - done : 0;
	emit(&h, buf + done, (__u32)len);
	return 0;
}

SEC("uprobe")
int ssl_write_enter(struct pt_regs *ctx) { return enter(ctx, KIND_WRITE, 0); }
SEC("uretprobe")
int ssl_write_leave(struct pt_regs *ctx) { return leave(ctx, 0); }
SEC("uprobe")
int ssl_read_enter(struct pt_regs *ctx) { return enter(ctx, KIND_READ, 0); }
SEC("uretprobe")
int ssl_read_leave(struct pt_regs *ctx) { return leave(ctx, 0); }
SEC("uprobe")
int ssl_write_ex_enter(struct pt_regs *ctx) { return enter(ctx, KIND_WRITE, 1); }
SEC("uretprobe")
int ssl_write_ex_leave(struct pt_regs *ctx) { return leave(ctx, 1); }
SEC("uprobe")
int ssl_read_ex_enter(struct pt_regs *ctx) { return enter(ctx, KIND_READ, 1); }
SEC("uretprobe")
int ssl_read_ex_leave(struct pt_regs *ctx) { return leave(ctx, 1); }

SEC("uprobe")
int ssl_handshake_enter(struct pt_regs *ctx) { return enter(ctx, KIND_HANDSHAKE, 0); }

// SSL_set_accept_state / SSL_set_connect_state: a fresh connection is set up. An
// application whose handshake runs inside its first read or write (BIO_f_ssl users such as
// s_server -WWW, SSL_do_handshake is never called) is seen from
// its start this way.
SEC("uprobe")
int ssl_set_state(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!wanted(id))
		return 0;
	struct conn_key key = {.ssl = (__u64)PT_REGS_PARM1(ctx), .tgid = (__u32)(id >> 32)};
	struct conn *cn = bpf_map_lookup_elem(&CONNS, &key);
	if (!cn) {
		struct conn fresh = {};
		fresh.flags = F_FROM_START;
		new_conn(&key, &fresh);
	} else if (cn->offset[0] == 0 && cn->offset[1] == 0) {
		cn->flags |= F_FROM_START;
	}
	return 0;
}
SEC("uretprobe")
int ssl_handshake_leave(struct pt_regs *ctx) { return leave(ctx, 0); }

// SSL_free: the connection ends; forget it and tell user space (a header-only record).
SEC("uprobe")
int ssl_free_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!wanted(id))
		return 0;
	struct conn_key key = {.ssl = (__u64)PT_REGS_PARM1(ctx), .tgid = (__u32)(id >> 32)};
	struct conn *cn = bpf_map_lookup_elem(&CONNS, &key);
	if (!cn)
		return 0; // never carried data we reported
	struct head h = {};
	h.tuple = cn->tuple;
	h.offset = cn->offset[0];
	h.other_offset = cn->offset[1];
	h.flags = cn->flags;
	h.ts_ns = bpf_ktime_get_ns();
	h.ssl = key.ssl;
	h.tgid = key.tgid;
	h.tid = (__u32)id;
	h.kind = KIND_FREE;
	bpf_get_current_comm(h.comm, sizeof(h.comm));
	bpf_map_delete_elem(&CONNS, &key);
	emit(&h, 0, 0);
	return 0;
}

// While a thread is inside an SSL call, the first socket system call it makes (read, write,
// send*, recv*) names the connection's file descriptor: fd -> struct file -> struct socket ->
// struct sock, read with CO-RE. A raw tracepoint on sys_enter needs neither kprobes nor
// BPF_PROG_TYPE_TRACING (fentry), which locked-down or kprobe-less kernels refuse; it runs
// for every system call, so it filters on the syscall number first, then one hash lookup.
#if defined(__TARGET_ARCH_x86)
#define NR_READ 0
#define NR_WRITE 1
#define NR_READV 19
#define NR_WRITEV 20
#define NR_SENDTO 44
#define NR_RECVFROM 45
#define NR_SENDMSG 46
#define NR_RECVMSG 47
#elif defined(__TARGET_ARCH_arm64) || defined(__TARGET_ARCH_riscv)
#define NR_READ 63
#define NR_WRITE 64
#define NR_READV 65
#define NR_WRITEV 66
#define NR_SENDTO 206
#define NR_RECVFROM 207
#define NR_SENDMSG 211
#define NR_RECVMSG 212
#else
#error "syscall numbers for this architecture"
#endif

#define SOCK_STREAM 1

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct signal_struct {
	struct {
		int counter;
	} live;
} __attribute__((preserve_access_index));

struct task_struct {
	struct files_struct *files;
	struct signal_struct *signal;
} __attribute__((preserve_access_index));

struct file {
	void *private_data;
} __attribute__((preserve_access_index));

struct socket {
	short type;
	struct file *file;
	struct sock *sk;
} __attribute__((preserve_access_index));

// The 4-tuple of a connected TCP socket into the call in progress.
static __always_inline void learn_tuple(struct call *c, struct sock *sk)
{
	if (!sk)
		return;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(c->tuple.saddr, &s, 4);
		__builtin_memcpy(c->tuple.daddr, &d, 4);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&c->tuple.saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&c->tuple.daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		return;
	}
	c->tuple.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->tuple.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	c->tuple.family = family;
	count(C_TUPLE_SEEN);
}

static __always_inline int is_socket_call(long nr)
{
	switch (nr) {
	case NR_READ: case NR_WRITE: case NR_READV: case NR_WRITEV:
	case NR_SENDTO: case NR_RECVFROM: case NR_SENDMSG: case NR_RECVMSG:
		return 1;
	}
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = (long)ctx->args[1];
	if (!is_socket_call(nr) || need_tuple == 0)
		return 0;
	struct call *c = this_call(0);
	if (!c || !c->active || c->known || c->tuple.family != 0)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	unsigned long fd = 0;
	if (bpf_probe_read_kernel(&fd, sizeof(fd), &PT_REGS_PARM1(regs)) != 0)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) != 0 || !file)
		return 0;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;
	// A socket's file points back at it: proof the file is a socket.
	if (BPF_CORE_READ(sock, file) != file || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return 0;
	learn_tuple(c, BPF_CORE_READ(sock, sk));
	return 0;
}

// The same learned where the socket layer reports a send or a receive: the tracepoints
// sock:sock_send_length and sock:sock_recv_length (Linux 6.3+) run in the sending or
// receiving thread, for socket I/O only, with the socket as their first argument. A raw
// tracepoint on sys_enter, in contrast, sends every system call of every process through
// the kernel's slow syscall path (measured: about 18 system calls per HTTP/1 request
// between nginx and its client). User space attaches these two, and falls back to
// sys_enter where the kernel does not have them. (fentry/kprobes on tcp_sendmsg would do
// too, but kernels without CONFIG_KPROBES or function tracing, like this project's test
// machines, refuse both.)
static __always_inline int sock_io(struct sock *sk)
{
	if (need_tuple == 0)
		return 0;
	struct call *c = this_call(0);
	if (!c || !c->active || c->known || c->tuple.family != 0 || !sk)
		return 0;
	struct socket *sock = BPF_CORE_READ(sk, sk_socket);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return 0;
	learn_tuple(c, sk);
	return 0;
}

SEC("raw_tracepoint/sock_send_length")
int sock_send(struct bpf_raw_tracepoint_args *ctx) { return sock_io((struct sock *)ctx->args[0]); }

SEC("raw_tracepoint/sock_recv_length")
int sock_recv(struct bpf_raw_tracepoint_args *ctx) { return sock_io((struct sock *)ctx->args[0]); }

// A process with connections exits: they end without SSL_free, so tell user space (one
// header-only record per process, only for processes in PIDS: one hash lookup per exiting
// thread system-wide). sched_process_exit runs in the exiting thread after do_exit counted
// it out of signal->live: 0 means the whole thread group is gone.
SEC("raw_tracepoint/sched_process_exit")
int proc_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = (__u32)(id >> 32);
	if (need_tuple != 0) {
		struct call *c = this_call(0);
		if (c && c->active && !c->known) {
			c->active = 0;
			need_tuple_add(-1);
		}
	}
	if (!bpf_map_lookup_elem(&PIDS, &tgid))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; // other threads live on
	bpf_map_delete_elem(&PIDS, &tgid);
	struct head h = {};
	h.ts_ns = bpf_ktime_get_ns();
	h.tgid = tgid;
	h.tid = (__u32)id;
	h.kind = KIND_EXIT;
	bpf_get_current_comm(h.comm, sizeof(h.comm));
	if (bpf_ringbuf_output(&EVENTS, &h, HEADER_SIZE, 0) != 0)
		count(C_LOST);
	else
		count(C_EVENTS);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
