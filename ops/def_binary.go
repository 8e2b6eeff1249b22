package ops

// Add, Sub, Mul, Div with numpy broadcasting. Float32 with Binary (one IEEE
// operation per element); int64 (shape arithmetic) exactly, Div truncating
// toward zero as ONNX Runtime does, division by zero an error.

func init() {
	for _, b := range []struct {
		name string
		op   BinaryOp
	}{{OpAdd, Add}, {OpSub, Sub}, {OpMul, Mul}, {OpDiv, Div}} {
		op := b.op
		Register(&Op{
			Name: b.name, MinInputs: 2, MaxInputs: 2, MaxOutputs: 1,
			Infer: func(a Attrs, in []Value) ([][]int, error) {
				s, err := BroadcastDims(in[0].Shape, in[1].Shape)
				if err != nil {
					return nil, a.Errorf("%v", err)
				}
				return [][]int{s}, nil
			},
			Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
				x, y := in[0], in[1]
				if is, ok := asInts(x, y); ok {
					x, y = is[0], is[1]
					t, err := binaryInt(op, x, y)
					if err != nil {
						return nil, a.Errorf("%v", err)
					}
					return []*Tensor{t}, nil
				}
				out, s, err := Binary(op, x.Float(), x.Shape, y.Float(), y.Shape)
				if err != nil {
					return nil, a.Errorf("%v", err)
				}
				return []*Tensor{F32(s, out)}, nil
			},
		})
	}
}

// BroadcastDims is BroadcastShape for shapes with unknown (-1) dimensions:
// an unknown dimension against 1 or another unknown stays unknown, against
// a known d > 1 it is d. Known dimensions that clash are an error.
func BroadcastDims(a, b []int) ([]int, error) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range out {
		x, y := dimFromEnd(a, r-1-i), dimFromEnd(b, r-1-i)
		switch {
		case x == y:
			out[i] = x
		case x == 1:
			out[i] = y
		case y == 1:
			out[i] = x
		case x < 0 && y < 0:
			out[i] = -1
		case x < 0:
			out[i] = y
		case y < 0:
			out[i] = x
		default:
			return nil, fmtErrorf("shapes %v and %v do not broadcast: dimension %d is %d against %d", a, b, i, x, y)
		}
	}
	return out, nil
}

// binaryInt is Binary on int64 tensors.
func binaryInt(op BinaryOp, a, b *Tensor) (*Tensor, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	if err := b.Check(); err != nil {
		return nil, err
	}
	out, err := BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	n, err := shapeElems(out)
	if err != nil {
		return nil, err
	}
	sa, sb := broadcastStrides(a.Shape, out), broadcastStrides(b.Shape, out)
	y := make([]int64, n)
	idx := make([]int, len(out))
	ia, ib := 0, 0
	for i := range y {
		x, z := a.Ints[ia], b.Ints[ib]
		switch op {
		case Add:
			y[i] = x + z
		case Sub:
			y[i] = x - z
		case Mul:
			y[i] = x * z
		case Div:
			if z == 0 {
				return nil, fmtErrorf("integer division by zero")
			}
			y[i] = x / z
		}
		ia, ib = broadcastNext(idx, out, sa, sb, ia, ib)
	}
	return I64(out, y), nil
}
