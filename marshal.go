package bpfvm

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"fmt"
	"reflect"
)

// marshal encodes a key or value the way cilium/ebpf does for fixed-size
// data: []byte as is, encoding.BinaryMarshaler, or the native-endian
// (little-endian: bpfvm runs eBPF little-endian) binary layout of a
// fixed-size value.
func marshal(v any, size int) ([]byte, error) {
	var b []byte
	switch x := v.(type) {
	case nil:
		if size == 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: nil where %d bytes are needed", ErrInvalidArgument, size)
	case []byte:
		b = x
	case encoding.BinaryMarshaler:
		var err error
		if b, err = x.MarshalBinary(); err != nil {
			return nil, err
		}
	default:
		if binary.Size(v) < 0 {
			return nil, fmt.Errorf("%w: cannot encode %T (not fixed-size)", ErrInvalidArgument, v)
		}
		var buf bytes.Buffer
		if err := binary.Write(&buf, binary.LittleEndian, v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidArgument, err)
		}
		b = buf.Bytes()
	}
	if size >= 0 && len(b) != size {
		return nil, fmt.Errorf("%w: %T encodes to %d bytes, want %d", ErrInvalidArgument, v, len(b), size)
	}
	return b, nil
}

// unmarshal decodes b into the pointer (or []byte) out.
func unmarshal(out any, b []byte) error {
	switch x := out.(type) {
	case []byte:
		if len(x) != len(b) {
			return fmt.Errorf("%w: buffer of %d bytes for %d bytes", ErrInvalidArgument, len(x), len(b))
		}
		copy(x, b)
		return nil
	case *[]byte:
		*x = append((*x)[:0], b...)
		return nil
	case encoding.BinaryUnmarshaler:
		return x.UnmarshalBinary(append([]byte(nil), b...))
	}
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("%w: %T is not a non-nil pointer", ErrInvalidArgument, out)
	}
	if n := binary.Size(out); n != len(b) {
		return fmt.Errorf("%w: %T holds %d bytes, the value has %d", ErrInvalidArgument, out, n, len(b))
	}
	return binary.Read(bytes.NewReader(b), binary.LittleEndian, out)
}
