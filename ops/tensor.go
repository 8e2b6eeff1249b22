package ops

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/model"
)

// DType is a tensor's element type on the host.
type DType uint8

// The element types. Float32 is what the GPU computes with; Int64 and Bool
// are for shape arithmetic on the host (ONNX's int64 shapes, indices, axes,
// and the bool results of comparisons).
const (
	Float32 DType = iota
	Int64
	Bool
)

// String returns the type's name.
func (t DType) String() string {
	switch t {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	case Bool:
		return "bool"
	}
	return fmt.Sprintf("DType(%d)", uint8(t))
}

// Tensor is a row-major host tensor: Float32 values in Data, Int64 and Bool
// (0 or 1) values in Ints. An empty Shape is a scalar.
type Tensor struct {
	Shape []int
	DType DType
	Data  []float32
	Ints  []int64
}

// F32 returns a float32 tensor of the given shape and data (not copied).
func F32(shape []int, data []float32) *Tensor { return &Tensor{Shape: shape, Data: data} }

// I64 returns an int64 tensor of the given shape and data (not copied).
func I64(shape []int, data []int64) *Tensor { return &Tensor{Shape: shape, DType: Int64, Ints: data} }

// Len returns the number of elements of t's data.
func (t *Tensor) Len() int {
	if t.DType == Float32 {
		return len(t.Data)
	}
	return len(t.Ints)
}

// Check returns an error when t's data does not match its shape.
func (t *Tensor) Check() error {
	n, err := shapeElems(t.Shape)
	if err != nil {
		return err
	}
	if t.Len() != n {
		return fmt.Errorf("ops: %s tensor of shape %v has %d values, needs %d", t.DType, t.Shape, t.Len(), n)
	}
	return nil
}

// Float returns t's values as float32: Data itself, or the integers
// converted.
func (t *Tensor) Float() []float32 {
	if t.DType == Float32 {
		return t.Data
	}
	y := make([]float32, len(t.Ints))
	for i, v := range t.Ints {
		y[i] = float32(v)
	}
	return y
}

// IntValues returns t's values as int64: Ints itself, or float values that
// are whole numbers within ±2^53 converted; an error otherwise.
func (t *Tensor) IntValues() ([]int64, error) {
	if t.DType != Float32 {
		return t.Ints, nil
	}
	y := make([]int64, len(t.Data))
	for i, v := range t.Data {
		f := float64(v)
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, fmt.Errorf("ops: value %v at index %d is not an integer", v, i)
		}
		y[i] = int64(f)
	}
	return y, nil
}

// reshaped returns a copy of t with a new shape that shares t's data.
func (t *Tensor) reshaped(shape []int) *Tensor {
	c := *t
	c.Shape = shape
	return &c
}

// ModelTensor returns t as a model tensor (float32; integers converted).
func (t *Tensor) ModelTensor(name string) *model.Tensor {
	return &model.Tensor{Name: name, Shape: append([]int{}, t.Shape...), Data: t.Float()}
}

// fmtErrorf is fmt.Errorf, for errors an op's Errorf then names the node in.
func fmtErrorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// asInts returns ts as int64 tensors when at least one is an integer
// tensor and every float32 one holds whole numbers (a model file stores
// integer constants as float32): shape arithmetic stays integer arithmetic.
// ok is false otherwise.
func asInts(ts ...*Tensor) (out []*Tensor, ok bool) {
	anyInt := false
	for _, t := range ts {
		anyInt = anyInt || (t != nil && t.DType == Int64)
	}
	if !anyInt {
		return nil, false
	}
	out = make([]*Tensor, len(ts))
	for i, t := range ts {
		if t == nil || t.DType != Float32 {
			out[i] = t
			continue
		}
		v, err := t.IntValues()
		if err != nil {
			return nil, false
		}
		out[i] = I64(t.Shape, v)
	}
	return out, true
}
