package onnx

import (
	"bytes"
	"errors"
	"math"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
	"github.com/vkinfer/vkinfer/ops"
)

// FuzzModelStructure is the structure-aware fuzzer: the fuzzed bytes are a
// program of mutations applied to one of a few valid ModelProtos (dropped
// nodes, initializers, attributes and fields; emptied tensors; swapped
// attribute and element types; inputs pointed at missing names or at later
// outputs, making cycles; huge, zero and negative dims; other op types and
// opsets). The mutated model goes through Decode, Validate, the mlp.bin
// round trip and, when every op is one it runs, the CPU evaluation
// (evalModel, layers/ref). None of them may panic; Decode may fail only with
// the package's sentinels. Its corpus is in testdata/fuzz/FuzzModelStructure.
func FuzzModelStructure(f *testing.F) {
	bases := fuzzBases(f)
	f.Add([]byte{})
	for i := range bases {
		f.Add([]byte{byte(i)})
	}
	// One seed per mutation kind, on each base.
	for i := range bases {
		for k := 0; k < numMutations; k++ {
			f.Add([]byte{byte(i), byte(k), 1, 2, 3, 4})
		}
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 256 {
			return
		}
		var base *pb.ModelProto
		if len(prog) > 0 {
			base = bases[int(prog[0])%len(bases)]
			prog = prog[1:]
		} else {
			base = bases[0]
		}
		mp := proto.Clone(base).(*pb.ModelProto)
		mutate(mp, prog)
		data, err := proto.Marshal(mp)
		if err != nil {
			return // a mutation the wire format cannot carry (invalid UTF-8 is not made)
		}
		checkImport(t, data)
	})
}

// checkImport runs data through the device-free load path.
func checkImport(t *testing.T, data []byte) {
	m, err := Decode(data)
	if err != nil {
		if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, model.ErrInvalid) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		return
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("accepted an invalid model: %v", err)
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err == nil {
		back, err := model.Read(&buf)
		if err != nil {
			t.Fatalf("the imported model does not decode from mlp.bin: %v", err)
		}
		if len(back.Nodes) != len(m.Nodes) || len(back.Initializers) != len(m.Initializers) {
			t.Fatalf("mlp.bin round trip changed the graph")
		}
	}
	// The CPU evaluation, with the dynamic dims at 2, when it is small.
	inputs := map[string]value{}
	for _, in := range m.Inputs {
		shape := make([]int, len(in.Shape))
		n := 1
		for i, d := range in.Shape {
			if d < 0 {
				d = 2
			}
			shape[i] = d
			n *= d
			if n > 1<<16 {
				return
			}
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		inputs[in.Name] = value{shape, x}
	}
	for _, n := range m.Nodes {
		if !evalOps[n.Op] {
			return
		}
	}
	_, _ = evalModel(m, inputs) // errors are fine; panics are not
}

// evalOps are the ops evalModel runs.
var evalOps = map[string]bool{ops.OpDense: true, "Relu": true, "Sigmoid": true, "Tanh": true, "Identity": true,
	"LeakyRelu": true, "Clip": true, "Softmax": true, "LogSoftmax": true, "Add": true, "Sub": true, "Mul": true,
	"Div": true, "MatMul": true, "Gemm": true, "Flatten": true, "Reshape": true}

// fuzzBases are the valid models the mutations start from: a real export
// (testdata/mlp.onnx) and graphs that reach the normalisers and folders.
func fuzzBases(f testing.TB) []*pb.ModelProto {
	data, err := os.ReadFile("testdata/mlp.onnx")
	if err != nil {
		f.Fatal(err)
	}
	var mlp pb.ModelProto
	if err := proto.Unmarshal(data, &mlp); err != nil {
		f.Fatal(err)
	}
	w := floatTensor("W", []int64{4, 3}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	bias := rawFloatTensor("B", []int64{3}, []float32{0.5, -0.5, 1})
	dbl := &pb.TensorProto{Name: proto.String("D"), Dims: []int64{3}, DataType: proto.Int32(int32(pb.TensorProto_DOUBLE)), DoubleData: []float64{1, 2, 3}}
	tm := &pb.TensorProto{Name: proto.String("tm"), DataType: proto.Int32(int32(pb.TensorProto_BOOL)), RawData: []byte{0}}
	// PyTorch's shape subgraph, a Gemm, Clip with a bound at run time,
	// Dropout 12, Cast of a DOUBLE constant, Softmax.
	shapes := newBuilder(13).input("x", -1, 2, 2).input("lo").output("y", -1, 3).output("s", -1, 3).
		init(w).init(bias).init(dbl).init(tm).init(intTensor("zero", 0)).init(intTensor("minus1", -1)).
		node("Shape", []string{"x"}, []string{"sh"}).
		node("Gather", []string{"sh", "zero"}, []string{"n"}, aInt("axis", 0)).
		node("Concat", []string{"n", "minus1"}, []string{"target"}, aInt("axis", 0)).
		node("Reshape", []string{"x", "target"}, []string{"flat"}).
		node("Gemm", []string{"flat", "W", "B"}, []string{"g"}, aFloat("alpha", 1), aInt("transB", 0)).
		node("Dropout", []string{"g", "", "tm"}, []string{"d"}).
		node("Clip", []string{"d", "lo"}, []string{"c"}).
		node("Cast", []string{"D"}, []string{"df"}, aInt("to", 1)).
		node("Add", []string{"c", "df"}, []string{"y"}).
		node("Softmax", []string{"y"}, []string{"s"}, aInt("axis", -1))
	shapes.g.Input[1].Type.GetTensorType().Shape = &pb.TensorShapeProto{}
	// Constants folded at load: Constant, Transpose, Slice, Unsqueeze,
	// Squeeze, ConstantOfShape, Range, MatMul of an old opset.
	folds := newBuilder(9).input("x", -1, 4).output("y", -1, 4).
		node("Constant", nil, []string{"k"}, aTensor("value", rawFloatTensor("kv", []int64{4, 4}, make([]float32, 16)))).
		node("Transpose", []string{"k"}, []string{"kt"}, aInts("perm", 1, 0)).
		node("Constant", nil, []string{"one"}, aTensor("value", intTensor("ov", 1))).
		node("ConstantOfShape", []string{"one"}, []string{"ones"}, aTensor("value", floatTensor("cv", []int64{1}, []float32{1}))).
		node("Unsqueeze", []string{"ones"}, []string{"u"}, aInts("axes", 0)).
		node("Squeeze", []string{"u"}, []string{"sq"}, aInts("axes", 0)).
		node("Slice", []string{"kt"}, []string{"ks"}, aInts("starts", 0), aInts("ends", 4)).
		node("MatMul", []string{"x", "ks"}, []string{"m"}).
		node("Add", []string{"m", "sq"}, []string{"a"}).
		node("LeakyRelu", []string{"a"}, []string{"l"}, aFloat("alpha", 0.1)).
		node("Clip", []string{"l"}, []string{"cl"}, aFloat("min", -1), aFloat("max", 1)).
		node("Flatten", []string{"cl"}, []string{"y"}, aInt("axis", 1))
	return []*pb.ModelProto{&mlp, shapes.m, folds.m}
}

const numMutations = 20

// weird are the values mutations put into dims and ints.
var weird = []int64{-1, 0, 1, 2, 3, -2, 1 << 31, 1 << 40, math.MaxInt64, math.MinInt64, 1 << 29, 1<<29 + 1, -1 << 40, 1<<32 + 1, 1<<32 - 1}

// prog reads the mutation program.
type progReader struct{ b []byte }

func (p *progReader) next() int {
	if len(p.b) == 0 {
		return 0
	}
	v := int(p.b[0])
	p.b = p.b[1:]
	return v
}

// pick returns an index below n (n > 0).
func (p *progReader) pick(n int) int { return p.next() % n }

// mutate applies the mutation program to mp.
func mutate(mp *pb.ModelProto, prog []byte) {
	p := &progReader{prog}
	g := mp.GetGraph()
	if g == nil {
		return
	}
	// All tensors and value infos, for mutations that pick one.
	tensors := func() []*pb.TensorProto {
		ts := append([]*pb.TensorProto{}, g.Initializer...)
		for _, n := range g.Node {
			for _, a := range n.Attribute {
				if a.T != nil {
					ts = append(ts, a.T)
				}
			}
		}
		return ts
	}
	values := func() []*pb.ValueInfoProto {
		return append(append(append([]*pb.ValueInfoProto{}, g.Input...), g.Output...), g.ValueInfo...)
	}
	names := func() []string {
		var s []string
		for _, n := range g.Node {
			s = append(s, n.Output...)
		}
		for _, t := range g.Initializer {
			s = append(s, t.GetName())
		}
		for _, v := range g.Input {
			s = append(s, v.GetName())
		}
		return append(s, "missing", "")
	}
	attrs := func() []*pb.AttributeProto {
		var as []*pb.AttributeProto
		for _, n := range g.Node {
			as = append(as, n.Attribute...)
		}
		return as
	}
	for steps := 0; len(p.b) > 0 && steps < 32; steps++ {
		switch p.next() % numMutations {
		case 0: // drop a node
			if len(g.Node) > 0 {
				i := p.pick(len(g.Node))
				g.Node = append(g.Node[:i], g.Node[i+1:]...)
			}
		case 1: // drop an initializer
			if len(g.Initializer) > 0 {
				i := p.pick(len(g.Initializer))
				g.Initializer = append(g.Initializer[:i], g.Initializer[i+1:]...)
			}
		case 2: // drop an attribute
			if len(g.Node) > 0 {
				n := g.Node[p.pick(len(g.Node))]
				if len(n.Attribute) > 0 {
					i := p.pick(len(n.Attribute))
					n.Attribute = append(n.Attribute[:i], n.Attribute[i+1:]...)
				}
			}
		case 3: // empty a tensor's data
			if ts := tensors(); len(ts) > 0 {
				tp := ts[p.pick(len(ts))]
				switch p.pick(3) {
				case 0:
					tp.RawData, tp.FloatData, tp.Int64Data, tp.Int32Data, tp.DoubleData = nil, nil, nil, nil, nil
				case 1:
					tp.RawData = []byte{}
				default:
					tp.Dims = nil
				}
			}
		case 4: // swap an attribute's type, keeping its fields
			if as := attrs(); len(as) > 0 {
				a := as[p.pick(len(as))]
				a.Type = pb.AttributeProto_AttributeType(p.pick(15)).Enum()
			}
		case 5: // drop an attribute's value field
			if as := attrs(); len(as) > 0 {
				a := as[p.pick(len(as))]
				switch p.pick(4) {
				case 0:
					a.T = nil
				case 1:
					a.I, a.F = nil, nil
				case 2:
					a.Ints, a.Floats = nil, nil
				default:
					a.Type = nil
				}
			}
		case 6: // point an input at another name, missing or later (cycles)
			if len(g.Node) > 0 {
				n := g.Node[p.pick(len(g.Node))]
				ns := names()
				if len(n.Input) > 0 {
					n.Input[p.pick(len(n.Input))] = ns[p.pick(len(ns))]
				} else {
					n.Input = append(n.Input, ns[p.pick(len(ns))])
				}
			}
		case 7: // make a cycle: node i reads node j >= i's output
			if len(g.Node) > 0 {
				i := p.pick(len(g.Node))
				j := i + p.pick(len(g.Node)-i)
				if len(g.Node[i].Input) > 0 && len(g.Node[j].Output) > 0 {
					g.Node[i].Input[p.pick(len(g.Node[i].Input))] = g.Node[j].Output[0]
				}
			}
		case 8: // a weird tensor dim
			if ts := tensors(); len(ts) > 0 {
				tp := ts[p.pick(len(ts))]
				v := weird[p.pick(len(weird))]
				if len(tp.Dims) > 0 && p.pick(2) == 0 {
					tp.Dims[p.pick(len(tp.Dims))] = v
				} else {
					tp.Dims = append(tp.Dims, v)
				}
			}
		case 9: // a weird value dim, or no shape, type or dim value
			if vs := values(); len(vs) > 0 {
				vi := vs[p.pick(len(vs))]
				tt := vi.GetType().GetTensorType()
				switch k := p.pick(4); {
				case tt == nil || k == 0:
					vi.Type = nil
				case k == 1:
					tt.Shape = nil
				case len(tt.GetShape().GetDim()) > 0:
					d := tt.Shape.Dim[p.pick(len(tt.Shape.Dim))]
					if k == 2 {
						d.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: weird[p.pick(len(weird))]}
					} else {
						d.Value = nil
					}
				}
			}
		case 10: // another element type
			dt := int32(p.pick(24))
			if p.pick(2) == 0 {
				if ts := tensors(); len(ts) > 0 {
					ts[p.pick(len(ts))].DataType = proto.Int32(dt)
				}
			} else if vs := values(); len(vs) > 0 {
				if tt := vs[p.pick(len(vs))].GetType().GetTensorType(); tt != nil {
					tt.ElemType = proto.Int32(dt)
				}
			}
		case 11: // drop a graph input or output
			if p.pick(2) == 0 && len(g.Input) > 0 {
				i := p.pick(len(g.Input))
				g.Input = append(g.Input[:i], g.Input[i+1:]...)
			} else if len(g.Output) > 0 {
				i := p.pick(len(g.Output))
				g.Output = append(g.Output[:i], g.Output[i+1:]...)
			}
		case 12: // another op type
			if len(g.Node) > 0 {
				g.Node[p.pick(len(g.Node))].OpType = proto.String(fuzzOps[p.pick(len(fuzzOps))])
			}
		case 13: // weird ints in an attribute
			if as := attrs(); len(as) > 0 {
				a := as[p.pick(len(as))]
				v := weird[p.pick(len(weird))]
				if len(a.Ints) > 0 {
					a.Ints[p.pick(len(a.Ints))] = v
				} else {
					a.I = proto.Int64(v)
				}
			}
		case 14: // duplicate a node (its outputs are then defined twice)
			if len(g.Node) > 0 {
				n := proto.Clone(g.Node[p.pick(len(g.Node))]).(*pb.NodeProto)
				g.Node = append(g.Node, n)
			}
		case 15: // another opset
			if len(mp.OpsetImport) > 0 {
				mp.OpsetImport[0].Version = proto.Int64(int64(p.pick(24)))
			}
		case 16: // an output renamed to an existing or empty name
			if len(g.Node) > 0 {
				n := g.Node[p.pick(len(g.Node))]
				ns := names()
				if len(n.Output) > 0 {
					n.Output[p.pick(len(n.Output))] = ns[p.pick(len(ns))]
				}
			}
		case 17: // a weird value in an integer tensor (shapes, axes, indices)
			if ts := tensors(); len(ts) > 0 {
				tp := ts[p.pick(len(ts))]
				v := weird[p.pick(len(weird))]
				if len(tp.Int64Data) > 0 {
					tp.Int64Data[p.pick(len(tp.Int64Data))] = v
				} else if len(tp.FloatData) > 0 {
					tp.FloatData[p.pick(len(tp.FloatData))] = float32(v)
				}
			}
		case 18: // an extra input to a node
			if len(g.Node) > 0 {
				n := g.Node[p.pick(len(g.Node))]
				ns := names()
				n.Input = append(n.Input, ns[p.pick(len(ns))])
			}
		case 19: // the graph's lists emptied
			switch p.pick(4) {
			case 0:
				g.Node = nil
			case 1:
				g.Initializer = nil
			case 2:
				g.ValueInfo = nil
			default:
				mp.OpsetImport = nil
			}
		}
	}
}

// fuzzOps are op types mutation 12 puts in.
var fuzzOps = []string{"Relu", "Gemm", "MatMul", "Reshape", "Shape", "Gather", "Concat", "Unsqueeze", "Squeeze",
	"Cast", "Clip", "Dropout", "Constant", "Softmax", "LogSoftmax", "Flatten", "Transpose", "Slice",
	"ConstantOfShape", "Range", "Identity", "Add", "Div", "Size", "Sqrt", "Neg", "Foo"}

// The fuzzer's bases are valid models (the mutations start from imports
// that succeed) and run on the CPU.
func TestFuzzBases(t *testing.T) {
	for i, mp := range fuzzBases(t) {
		data, err := proto.Marshal(mp)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Decode(data)
		if err != nil {
			t.Fatalf("base %d: %v", i, err)
		}
		t.Logf("base %d: %s", i, opList(m))
	}
}
