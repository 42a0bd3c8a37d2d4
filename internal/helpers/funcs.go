package helpers

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// build binds every implemented helper to s.
func (s *State) build() engine.Helpers {
	h := engine.Helpers{
		MapLookupElem:          s.mapLookupElem,
		MapUpdateElem:          s.mapUpdateElem,
		MapDeleteElem:          s.mapDeleteElem,
		MapPushElem:            s.mapPushElem,
		MapPopElem:             s.mapPopElem,
		MapPeekElem:            s.mapPeekElem,
		MapLookupPercpuElem:    s.mapLookupPercpuElem,
		ForEachMapElem:         s.forEachMapElem,
		Loop:                   s.loop,
		KtimeGetNs:             s.ktimeGetNs,
		KtimeGetBootNs:         s.ktimeGetBootNs,
		KtimeGetCoarseNs:       s.ktimeGetNs,
		KtimeGetTaiNs:          s.ktimeGetTaiNs,
		Jiffies64:              s.jiffies64,
		GetPrandomU32:          s.getPrandomU32,
		GetSmpProcessorId:      s.getSmpProcessorID,
		GetNumaNodeId:          func(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) { return 0, nil },
		TracePrintk:            s.tracePrintk,
		TraceVprintk:           s.traceVprintk,
		Snprintf:               s.snprintf,
		TailCall:               s.tailCall,
		RingbufOutput:          s.ringbufOutput,
		RingbufReserve:         s.ringbufReserve,
		RingbufSubmit:          s.ringbufSubmit,
		RingbufDiscard:         s.ringbufDiscard,
		RingbufQuery:           s.ringbufQuery,
		PerfEventOutput:        s.perfEventOutput,
		ProbeRead:              s.probeRead,
		ProbeReadKernel:        s.probeRead,
		ProbeReadUser:          s.probeRead,
		ProbeReadStr:           s.probeReadStr,
		ProbeReadKernelStr:     s.probeReadStr,
		ProbeReadUserStr:       s.probeReadStr,
		GetCurrentPidTgid:      s.getCurrentPidTgid,
		GetCurrentUidGid:       s.getCurrentUIDGID,
		GetCurrentComm:         s.getCurrentComm,
		GetCurrentTask:         s.getCurrentTask,
		GetCurrentTaskBtf:      s.getCurrentTask,
		GetCurrentCgroupId:     s.getCurrentCgroupID,
		CsumDiff:               s.csumDiff,
		Redirect:               s.redirect,
		RedirectMap:            s.redirectMap,
		SpinLock:               s.spinLock,
		SpinUnlock:             s.spinUnlock,
		Strtol:                 s.strtol,
		Strtoul:                s.strtoul,
		SkbLoadBytes:           s.skbLoadBytes,
		SkbLoadBytesRelative:   s.skbLoadBytesRelative,
		SkbStoreBytes:          s.skbStoreBytes,
		XdpLoadBytes:           s.xdpLoadBytes,
		XdpStoreBytes:          s.xdpStoreBytes,
		XdpAdjustHead:          s.xdpAdjustHead,
		XdpAdjustTail:          s.xdpAdjustTail,
		XdpAdjustMeta:          s.xdpAdjustMeta,
		XdpGetBuffLen:          s.xdpGetBuffLen,
		L3CsumReplace:          s.l3CsumReplace,
		L4CsumReplace:          s.l4CsumReplace,
		GetStackid:             s.getStackid,
		FibLookup:              s.fibLookup,
		SkbChangeTail:          s.skbChangeTail,
		SkbChangeHead:          s.skbChangeHead,
		GetStack:               s.getStack,
		SkbPullData:            s.skbPullData,
		GetFuncIp:              s.getFuncIP,
		CurrentTaskUnderCgroup: s.currentTaskUnderCgroup,
		GetAttachCookie:        s.getAttachCookie,
		SkbAdjustRoom:          s.skbAdjustRoom,
		GetSocketCookie:        s.getSocketCookie,
		GetHashRecalc:          s.getHashRecalc,
		SkbVlanPush:            s.skbVlanPush,
		SkbVlanPop:             s.skbVlanPop,
	}
	return h
}

// Implemented reports whether helper id has an implementation.
func Implemented(id int32) bool {
	_, ok := (&State{Host: &Host{}}).build()[id]
	return ok
}

func (s *State) mapLookupElem(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	mi, err := s.info(r1)
	if err != nil {
		return 0, err
	}
	key, err := env.Memory(r2, mi.keySize, false)
	if err != nil {
		return 0, err
	}
	if mi.arr != nil {
		// A plain array: index the slab (what ProgLookup would do,
		// without the interface calls), as the kernel's JIT inlines
		// array lookups.
		i := uint64(binary.LittleEndian.Uint32(key))
		if i >= mi.maxEntries {
			return 0, nil
		}
		if mi.slabRun != s.run {
			s.expose(env, mi.arr, mi.writable)
			mi.slabRun, mi.slabCPU = s.run, 0
		}
		return addrOf(mi.arr) + i*mi.arrStride, nil
	}
	if mi.mapOfMaps != nil {
		if _, id, ok := mi.mapOfMaps.InnerMapAt(key); ok {
			return maps.Handle(id), nil
		}
		return 0, nil
	}
	v := mi.m.ProgLookup(key, s.CPU)
	if v == nil {
		return 0, nil
	}
	return s.exposeValue(env, mi, v, s.CPU), nil
}

func (s *State) mapLookupPercpuElem(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	mi, err := s.info(r1)
	if err != nil {
		return 0, err
	}
	if r3 >= uint64(max(s.Host.NumCPU, 1)) {
		return 0, nil
	}
	key, err := env.Memory(r2, mi.keySize, false)
	if err != nil {
		return 0, err
	}
	v := mi.m.ProgLookup(key, int(r3))
	if v == nil {
		return 0, nil
	}
	return s.exposeValue(env, mi, v, int(r3)), nil
}

// exposeValue makes the value v that a lookup on cpu returned accessible
// to the program and returns its address: for slab maps, by exposing the
// whole slab (once per run).
func (s *State) exposeValue(env engine.Env, mi *mapInfo, v []byte, cpu int) uint64 {
	if mi.slab != nil {
		if mi.slabRun != s.run || mi.slabCPU != cpu {
			s.expose(env, mi.slab.Slab(cpu), mi.writable)
			mi.slabRun, mi.slabCPU = s.run, cpu
		}
		return addrOf(v)
	}
	return s.expose(env, v, mi.writable)
}

func (s *State) mapUpdateElem(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	mi, err := s.info(r1)
	if err != nil {
		return 0, err
	}
	key, err := env.Memory(r2, mi.keySize, false)
	if err != nil {
		return 0, err
	}
	val, err := env.Memory(r3, mi.valueSize, false)
	if err != nil {
		return 0, err
	}
	return maps.Ret(mi.m.ProgUpdate(key, val, r4, s.CPU)), nil
}

func (s *State) mapDeleteElem(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	mi, err := s.info(r1)
	if err != nil {
		return 0, err
	}
	key, err := env.Memory(r2, mi.keySize, false)
	if err != nil {
		return 0, err
	}
	return maps.Ret(mi.m.ProgDelete(key)), nil
}

func (s *State) pushPopper(r1 uint64) (maps.PushPopper, uint64, error) {
	m, err := s.mapArg(r1)
	if err != nil {
		return nil, 0, err
	}
	pp, ok := m.(maps.PushPopper)
	if !ok {
		return nil, 0, fmt.Errorf("%w: %s map has no push/pop", errBadMap, m.Spec().Type)
	}
	return pp, uint64(m.Spec().ValueSize), nil
}

func (s *State) mapPushElem(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	pp, vs, err := s.pushPopper(r1)
	if err != nil {
		return 0, err
	}
	v, err := env.Memory(r2, vs, false)
	if err != nil {
		return 0, err
	}
	return maps.Ret(pp.Push(v, r3)), nil
}

func (s *State) mapPopElem(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	pp, vs, err := s.pushPopper(r1)
	if err != nil {
		return 0, err
	}
	v, err := env.Memory(r2, vs, true)
	if err != nil {
		return 0, err
	}
	return maps.Ret(pp.Pop(v)), nil
}

func (s *State) mapPeekElem(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	pp, vs, err := s.pushPopper(r1)
	if err != nil {
		return 0, err
	}
	v, err := env.Memory(r2, vs, true)
	if err != nil {
		return 0, err
	}
	return maps.Ret(pp.Peek(v)), nil
}

// forEachMapElem calls the callback for each element (bpf_for_each_map_elem)
// with (map, &key, &value, ctx); a callback returning 1 stops. It returns
// the number of elements visited.
func (s *State) forEachMapElem(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	m, err := s.mapArg(r1)
	if err != nil {
		return 0, err
	}
	if r4 != 0 {
		return errno(maps.EINVAL), nil
	}
	pc, err := funcPC(r2)
	if err != nil {
		return 0, err
	}
	spec := m.Spec()
	writable := spec.Flags&maps.FlagRdonlyProg == 0
	var n uint64
	var prev []byte
	for {
		// Each key lives in its own allocation: the callback may keep
		// its pointer until the run ends.
		key := make([]byte, spec.KeySize)
		if err := m.NextKey(prev, key); err != nil {
			break
		}
		prev = key
		v := m.ProgLookup(key, s.CPU)
		if v == nil {
			continue
		}
		env.AddRegion(key, false)
		r0, err := env.Call(pc, r1, addrOf(key), s.expose(env, v, writable), r3)
		if err != nil {
			return 0, err
		}
		n++
		if r0 != 0 {
			break
		}
		if spec.Type == maps.Array || spec.Type == maps.PerCPUArray {
			if binary.LittleEndian.Uint32(key) == spec.MaxEntries-1 {
				break
			}
		}
	}
	return n, nil
}

// loop is bpf_loop: at most 1<<23 iterations of callback(i, ctx).
func (s *State) loop(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	if r4 != 0 {
		return errno(maps.EINVAL), nil
	}
	if uint32(r1) > 1<<23 {
		return errno(maps.E2BIG), nil
	}
	pc, err := funcPC(r2)
	if err != nil {
		return 0, err
	}
	n := uint64(uint32(r1))
	for i := uint64(0); i < n; i++ {
		r0, err := env.Call(pc, i, r3)
		if err != nil {
			return 0, err
		}
		if r0 != 0 {
			return i + 1, nil
		}
	}
	return n, nil
}

func (s *State) ktimeGetNs(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	return s.Host.now(), nil
}

func (s *State) ktimeGetBootNs(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	if s.Host.BootClock != nil {
		return s.Host.BootClock(), nil
	}
	return s.Host.now(), nil
}

func (s *State) ktimeGetTaiNs(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	if s.Host.TAIClock != nil {
		return s.Host.TAIClock(), nil
	}
	return taiNow(), nil
}

// jiffies64 counts ticks of a 250 Hz clock (CONFIG_HZ=250, the common
// distribution setting).
func (s *State) jiffies64(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	return s.Host.now() / 4_000_000, nil
}

// getPrandomU32 is a splitmix64 stream: reproducible for a given seed and
// CPU.
func (s *State) getPrandomU32(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	// The engines that inline the helper use the same function (and
	// state: PrandomState), so the sequence is one on every engine.
	return engine.PrandomNext(&s.rng), nil
}

func (s *State) getSmpProcessorID(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	return uint64(s.CPU), nil
}

func (s *State) tailCall(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	m, err := s.mapArg(r2)
	if err != nil {
		return 0, err
	}
	pa, ok := m.(maps.ProgramArray)
	if !ok {
		return 0, fmt.Errorf("%w: tail call through a %s map", errBadMap, m.Spec().Type)
	}
	// On failure the kernel falls through to the next instruction.
	if s.TailCalls >= MaxTailCalls {
		return errno(maps.ENOENT), nil
	}
	p, ok := pa.ProgramAt(uint32(r3))
	if !ok {
		return errno(maps.ENOENT), nil
	}
	s.TailCalls++
	return 0, &TailCallRequest{Program: p}
}

func (s *State) ringBuffer(r uint64) (maps.RingBuffer, error) {
	m, err := s.mapArg(r)
	if err != nil {
		return nil, err
	}
	rb, ok := m.(maps.RingBuffer)
	if !ok {
		return nil, fmt.Errorf("%w: %s map is not a ring buffer", errBadMap, m.Spec().Type)
	}
	return rb, nil
}

func (s *State) ringbufOutput(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	rb, err := s.ringBuffer(r1)
	if err != nil {
		return 0, err
	}
	data, err := env.Memory(r2, r3, false)
	if err != nil {
		return 0, err
	}
	return maps.Ret(rb.Output(data, r4)), nil
}

func (s *State) ringbufReserve(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	rb, err := s.ringBuffer(r1)
	if err != nil {
		return 0, err
	}
	rec := rb.Reserve(r2, r3)
	if rec == nil {
		return 0, nil
	}
	a := addrOf(rec)
	s.records = append(s.records, record{addr: a, rb: rb})
	env.AddRegion(rec, true)
	return a, nil
}

func (s *State) commit(r1, r2 uint64, discard bool) (uint64, error) {
	for i, r := range s.records {
		if r.addr == r1 {
			s.records = append(s.records[:i], s.records[i+1:]...)
			return 0, r.rb.Commit(r1, discard, r2)
		}
	}
	return 0, fmt.Errorf("%#x is not a ring buffer record reserved by this run", r1)
}

func (s *State) ringbufSubmit(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	return s.commit(r1, r2, false)
}

func (s *State) ringbufDiscard(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	return s.commit(r1, r2, true)
}

func (s *State) ringbufQuery(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	rb, err := s.ringBuffer(r1)
	if err != nil {
		return 0, err
	}
	return rb.Query(r2), nil
}

// perfEventOutput is bpf_perf_event_output(ctx, map, flags, data, size);
// for packet programs the upper 32 bits of flags ask for that many packet
// bytes to follow the data.
func (s *State) perfEventOutput(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	m, err := s.mapArg(r2)
	if err != nil {
		return 0, err
	}
	pe, ok := m.(maps.PerfEvents)
	if !ok {
		return 0, fmt.Errorf("%w: %s map is not a perf event array", errBadMap, m.Spec().Type)
	}
	data, err := env.Memory(r4, r5, false)
	if err != nil {
		return 0, err
	}
	if ctxLen := (r3 & maps.PerfCtxLenMask) >> 32; ctxLen > 0 {
		if s.Packet == nil {
			return errno(maps.EINVAL), nil
		}
		p := s.Packet
		if ctxLen > uint64(p.Len()) {
			return errno(maps.EFAULT), nil
		}
		lin, frag := p.span(0, int(ctxLen)) // XDP: across fragments
		data = append(append(append([]byte(nil), data...), lin...), frag...)
	}
	return maps.Ret(pe.Output(s.CPU, r3, data)), nil
}

func (s *State) getCurrentPidTgid(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	t := &s.Host.Task
	return uint64(t.TGID)<<32 | uint64(t.PID), nil
}

func (s *State) getCurrentUIDGID(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	t := &s.Host.Task
	return uint64(t.GID)<<32 | uint64(t.UID), nil
}

// getCurrentComm copies the task name NUL-terminated and zero-padded
// (strscpy_pad), truncating it to size-1 bytes.
func (s *State) getCurrentComm(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	if r2 == 0 {
		return errno(maps.EINVAL), nil
	}
	buf, err := env.Memory(r1, r2, true)
	if err != nil {
		return 0, err
	}
	clear(buf)
	copy(buf[:len(buf)-1], s.Host.Task.Comm)
	return 0, nil
}

func (s *State) getCurrentTask(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	return s.Host.Task.Pointer, nil
}

func (s *State) getCurrentCgroupID(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	return s.Host.Task.CgroupID, nil
}

// readMem reads n bytes at addr from the run's memory or the host's
// exposed memory.
func (s *State) readMem(env engine.Env, addr, n uint64) ([]byte, bool) {
	if b, err := env.Memory(addr, n, false); err == nil {
		return b, true
	}
	for _, r := range s.Host.Memory {
		if off := addr - r.Addr; addr >= r.Addr && off < uint64(len(r.Data)) && n <= uint64(len(r.Data))-off {
			return r.Data[off : off+n], true
		}
	}
	return nil, false
}

// probeRead copies size bytes from an arbitrary address; on a fault it
// zeroes the destination and returns -EFAULT.
func (s *State) probeRead(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	dst, err := env.Memory(r1, r2, true)
	if err != nil {
		return 0, err
	}
	src, ok := s.readMem(env, r3, r2)
	if !ok {
		clear(dst)
		return errno(maps.EFAULT), nil
	}
	copy(dst, src)
	return 0, nil
}

// probeReadStr copies a NUL-terminated string of at most size-1 bytes and
// returns its length including the NUL.
func (s *State) probeReadStr(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	if r2 == 0 {
		return 0, nil
	}
	dst, err := env.Memory(r1, r2, true)
	if err != nil {
		return 0, err
	}
	for i := uint64(0); i < r2-1; i++ {
		b, ok := s.readMem(env, r3+i, 1)
		if !ok {
			if i == 0 {
				clear(dst)
				return errno(maps.EFAULT), nil
			}
			dst[i] = 0
			return i + 1, nil
		}
		dst[i] = b[0]
		if b[0] == 0 {
			return i + 1, nil
		}
	}
	dst[r2-1] = 0
	return r2, nil
}

// readStr reads a NUL-terminated string of at most max bytes.
func (s *State) readStr(env engine.Env, addr uint64, max int) (string, bool) {
	var out []byte
	for i := 0; i < max; i++ {
		b, ok := s.readMem(env, addr+uint64(i), 1)
		if !ok {
			return string(out), false
		}
		if b[0] == 0 {
			return string(out), true
		}
		out = append(out, b[0])
	}
	return string(out), true
}

func (s *State) redirect(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	// XDP_REDIRECT is 4; tc's TC_ACT_REDIRECT is 7. BPF_F_INGRESS (1) is
	// the only flag.
	if r2&^1 != 0 {
		if s.Packet != nil && s.Packet.XDP {
			return 0, nil // XDP_ABORTED
		}
		return 2, nil // TC_ACT_SHOT
	}
	s.Redirect = RedirectInfo{Set: true, Ifindex: uint32(r1), Flags: r2}
	if s.Packet != nil && s.Packet.XDP {
		return 4, nil
	}
	return 7, nil
}

// redirectMap is bpf_redirect_map(map, key, flags): through DEVMAP,
// DEVMAP_HASH, CPUMAP and XSKMAP it returns XDP_REDIRECT and records the
// target when the key has one, else the action in the low two bits of
// flags. BPF_F_BROADCAST (8) redirects to every entry.
func (s *State) redirectMap(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	m, err := s.mapArg(r1)
	if err != nil {
		return 0, err
	}
	rt, ok := m.(maps.RedirectTarget)
	if !ok {
		return 0, fmt.Errorf("%w: bpf_redirect_map through a %s map", errBadMap, m.Spec().Type)
	}
	const broadcast, excludeIngress = 8, 16
	if r3&^uint64(3|broadcast|excludeIngress) != 0 {
		return 0, nil // XDP_ABORTED
	}
	if r3&broadcast == 0 && !rt.HasTarget(uint32(r2)) {
		return r3 & 3, nil
	}
	s.Redirect = RedirectInfo{Set: true, Map: m, Key: uint32(r2), Flags: r3}
	return 4, nil // XDP_REDIRECT
}

// The spin lock table: bpf_spin_lock serialises runs on the same lock word
// across VMs. A run holds at most one lock (the verifier's rule).
var lockTable [64]sync.Mutex

func lockFor(addr uint64) *sync.Mutex { return &lockTable[(addr>>2)%uint64(len(lockTable))] }

func (s *State) spinLock(env engine.Env, r1, _, _, _, _ uint64) (uint64, error) {
	if _, err := env.Memory(r1, 4, true); err != nil {
		return 0, err
	}
	if len(s.locks) > 0 {
		return 0, fmt.Errorf("bpf_spin_lock while holding a lock")
	}
	l := lockFor(r1)
	l.Lock()
	s.locks = append(s.locks, l)
	return 0, nil
}

func (s *State) spinUnlock(env engine.Env, r1, _, _, _, _ uint64) (uint64, error) {
	if len(s.locks) == 0 || s.locks[0] != lockFor(r1) {
		return 0, fmt.Errorf("bpf_spin_unlock of a lock not held")
	}
	s.locks[0].Unlock()
	s.locks = s.locks[:0]
	return 0, nil
}

// getFuncIP is bpf_get_func_ip: the address of the function the program
// is attached to (State.FuncIP; 0 outside an attachment).
func (s *State) getFuncIP(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	return s.FuncIP, nil
}

// getAttachCookie is bpf_get_attach_cookie: the cookie of the attachment
// the program runs from (State.AttachCookie; 0 when it has none, as in
// the kernel). Its context argument is not needed: the cookie belongs to
// the run, as the kernel's bpf_run_ctx.
func (s *State) getAttachCookie(engine.Env, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
	return s.AttachCookie, nil
}

// Stack helper flags.
const (
	stackSkipMask = 0xff
	stackUser     = 1 << 8
	stackReuseID  = 1 << 10
	stackBuildID  = 1 << 11
	stackFastCmp  = 1 << 9
)

func (s *State) stack(flags uint64) []uint64 {
	st := s.Host.Task.KernelStack
	if flags&stackUser != 0 {
		st = s.Host.Task.UserStack
	}
	skip := int(flags & stackSkipMask)
	if skip >= len(st) {
		return nil
	}
	return st[skip:]
}

// getStackid is bpf_get_stackid(ctx, map, flags): the id of the current
// stack in a STACK_TRACE map.
func (s *State) getStackid(env engine.Env, r1, r2, r3, _, _ uint64) (uint64, error) {
	m, err := s.mapArg(r2)
	if err != nil {
		return 0, err
	}
	ss, ok := m.(maps.StackStorer)
	if !ok {
		return 0, fmt.Errorf("%w: bpf_get_stackid on a %s map", errBadMap, m.Spec().Type)
	}
	if r3&^uint64(stackSkipMask|stackUser|stackFastCmp|stackReuseID) != 0 {
		return errno(maps.EINVAL), nil
	}
	st := s.stack(r3)
	if len(st) == 0 {
		return errno(maps.EFAULT), nil
	}
	id, err := ss.StoreStack(st, r3&stackReuseID != 0)
	if err != nil {
		return maps.Ret(err), nil
	}
	return uint64(id), nil
}

// getStack is bpf_get_stack(ctx, buf, size, flags): copies the stack's
// instruction pointers and returns the bytes copied.
func (s *State) getStack(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	buf, err := env.Memory(r2, r3, true)
	if err != nil {
		return 0, err
	}
	if r4&^uint64(stackSkipMask|stackUser|stackBuildID) != 0 || r3%8 != 0 || (r4&stackBuildID != 0) {
		clear(buf)
		return errno(maps.EINVAL), nil
	}
	st := s.stack(r4)
	n := min(len(st), int(r3/8))
	clear(buf)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(buf[8*i:], st[i])
	}
	return uint64(8 * n), nil
}

// skbPullData is bpf_skb_pull_data: test-run skbs are linear, so pulling
// succeeds up to the packet length (-ENOMEM beyond).
func (s *State) skbPullData(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	p := s.Packet
	if p == nil || p.XDP {
		return errno(maps.EINVAL), nil
	}
	if r2 > uint64(p.End-p.Data) {
		return errno(maps.ENOMEM), nil
	}
	p.sync()
	return 0, nil
}

// currentTaskUnderCgroup is bpf_current_task_under_cgroup(map, index): 1
// if the current task's cgroup, or one of its ancestors, is the cgroup in
// the CGROUP_ARRAY slot (whose value is the cgroup id's low 32 bits), 0 if
// not, -EAGAIN for an empty slot, -E2BIG past the end.
func (s *State) currentTaskUnderCgroup(env engine.Env, r1, r2, _, _, _ uint64) (uint64, error) {
	m, err := s.mapArg(r1)
	if err != nil {
		return 0, err
	}
	if m.Spec().Type != maps.CgroupArray {
		return 0, fmt.Errorf("%w: %s map is not a cgroup array", errBadMap, m.Spec().Type)
	}
	if uint32(r2) >= m.Spec().MaxEntries {
		return errno(maps.E2BIG), nil
	}
	v := m.ProgLookup(binary.LittleEndian.AppendUint32(nil, uint32(r2)), s.CPU)
	if v == nil {
		return errno(maps.EAGAIN), nil
	}
	want := binary.LittleEndian.Uint32(v)
	t := &s.Host.Task
	if uint32(t.CgroupID) == want {
		return 1, nil
	}
	for _, a := range t.CgroupAncestors {
		if uint32(a) == want {
			return 1, nil
		}
	}
	return 0, nil
}
