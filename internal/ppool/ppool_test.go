package ppool

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

type item struct {
	id    int
	inUse atomic.Bool
}

// TestGetPut: an empty pool gives nil; an item put back is the next one
// taken; with the slots on, Pin sees the P's item without taking it.
func TestGetPut(t *testing.T) {
	for _, init := range []bool{false, true} {
		var p Pool[item]
		if init {
			p.Init()
		}
		if (p.Slots() > 0) != (init && !raceEnabled) {
			t.Fatalf("init %v: %d slots", init, p.Slots())
		}
		if x := p.Get(); x != nil {
			t.Fatalf("init %v: empty pool gave %v", init, x)
		}
		a, b, c := &item{id: 1}, &item{id: 2}, &item{id: 3}
		p.Put(a)
		if x := p.Get(); x != a {
			t.Fatalf("init %v: got %v, want a", init, x)
		}
		// Three items: the P's slot (if any), the hot slot, the list.
		p.Put(a)
		p.Put(b)
		p.Put(c)
		got := map[*item]bool{}
		for x := p.Get(); x != nil; x = p.Get() {
			if got[x] {
				t.Fatalf("init %v: %d taken twice", init, x.id)
			}
			got[x] = true
		}
		if len(got) != 3 {
			t.Fatalf("init %v: %d items back, want 3", init, len(got))
		}
		p.Put(a)
		x := p.Pin()
		Unpin()
		if want := (*item)(nil); p.Slots() > 0 {
			// The goroutine may have moved to another P since Put: then
			// its slot is empty.
			if x != nil && x != a {
				t.Fatalf("Pin = %v, want a or nil", x)
			}
		} else if x != want {
			t.Fatalf("Pin without slots = %v", x)
		}
		if y := p.Get(); y != a {
			t.Fatalf("init %v: Pin took the item (Get = %v)", init, y)
		}
	}
}

// TestConcurrent: goroutines take, use and give back items; no item is
// ever held by two at once, none is lost, and at most one per P besides
// the peak concurrency is made.
func TestConcurrent(t *testing.T) {
	const goroutines, rounds = 8, 2000
	var p Pool[item]
	p.Init()
	var made atomic.Int32
	var wg sync.WaitGroup
	var bad atomic.Int32
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				if i%3 == 0 {
					if x := p.Pin(); x != nil && x.inUse.Load() {
						bad.Add(1) // idle in the slot, yet in use
					}
					Unpin()
				}
				x := p.Get()
				if x == nil {
					x = &item{id: int(made.Add(1))}
					p.Track(x)
				}
				if !x.inUse.CompareAndSwap(false, true) {
					bad.Add(1)
				}
				if i%50 == 0 {
					runtime.Gosched()
				}
				x.inUse.Store(false)
				p.Put(x)
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d times an item was handed out twice", bad.Load())
	}
	if n, limit := int(made.Load()), p.Slots()+goroutines+1; n > limit {
		t.Errorf("%d items made, more than %d", n, limit)
	}
	if p.Tracked() != int(made.Load()) {
		t.Errorf("tracked %d, made %d", p.Tracked(), made.Load())
	}
	// Every item is idle again: Get gives each back once.
	back := map[*item]bool{}
	for x := p.Get(); x != nil; x = p.Get() {
		back[x] = true
	}
	// Items left in other Ps' slots are not reached by this goroutine's
	// Gets; Reset reaches all of them.
	if len(back) > int(made.Load()) {
		t.Fatalf("%d items back, %d made", len(back), made.Load())
	}
	for x := range back {
		p.Put(x)
	}
	released := 0
	p.Reset(func(x *item) { released++ })
	if released != int(made.Load()) || p.Tracked() != 0 || p.Get() != nil {
		t.Fatalf("Reset released %d of %d; afterwards %d tracked", released, made.Load(), p.Tracked())
	}
}

// TestNoAllocs: Get and Put of an existing item allocate nothing.
func TestNoAllocs(t *testing.T) {
	var p Pool[item]
	p.Init()
	p.Put(&item{})
	if n := testing.AllocsPerRun(100, func() { p.Put(p.Get()) }); n != 0 {
		t.Fatalf("Get+Put allocates %v times", n)
	}
}

// BenchmarkGetPut: one goroutine's Get and Put, and a Pin and Unpin.
func BenchmarkGetPut(b *testing.B) {
	var p Pool[item]
	p.Init()
	p.Put(&item{})
	b.Run("getput", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p.Put(p.Get())
		}
	})
	b.Run("pin", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p.Pin()
			Unpin()
		}
	})
}
