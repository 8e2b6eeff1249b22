package spirv

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/spirv/spvreflect"
)

const shaderDir = "../shaders"

// sourceHashes hashes every regular, non-hidden file in ../shaders, the
// same set tools/spirvgen records in the manifest.
func sourceHashes(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(shaderDir)
	if err != nil {
		t.Fatalf("read shader sources: %v", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(shaderDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = hex.EncodeToString(sum[:])
	}
	return out
}

func TestManifestMatchesSources(t *testing.T) {
	have := sourceHashes(t)
	recorded := map[string]string{}
	for _, e := range manifest {
		recorded[e.Path] = e.SHA256
	}
	for path, sum := range have {
		switch old, ok := recorded[path]; {
		case !ok:
			t.Errorf("shaders/%s is new since spirv/ was generated: run ./build.sh shaders", path)
		case old != sum:
			t.Errorf("shaders/%s changed since spirv/ was generated: run ./build.sh shaders", path)
		}
	}
	for path := range recorded {
		if _, ok := have[path]; !ok {
			t.Errorf("shaders/%s was removed since spirv/ was generated: run ./build.sh shaders", path)
		}
	}
}

func TestEverySourceHasModule(t *testing.T) {
	comps, err := filepath.Glob(filepath.Join(shaderDir, "*.comp"))
	if err != nil {
		t.Fatal(err)
	}
	spvs, err := filepath.Glob("*.spv")
	if err != nil {
		t.Fatal(err)
	}
	var fromComp, fromSPV []string
	for _, c := range comps {
		fromComp = append(fromComp, strings.TrimSuffix(filepath.Base(c), ".comp"))
	}
	for _, s := range spvs {
		fromSPV = append(fromSPV, strings.TrimSuffix(s, ".spv"))
	}
	sort.Strings(fromComp)
	sort.Strings(fromSPV)
	if len(fromComp) == 0 {
		t.Fatal("no shaders/*.comp found")
	}
	set := func(xs []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range xs {
			m[x] = true
		}
		return m
	}
	spvSet, compSet, gen := set(fromSPV), set(fromComp), set(Names())
	for _, n := range fromComp {
		if !spvSet[n] {
			t.Errorf("shaders/%s.comp has no spirv/%s.spv: run ./build.sh shaders", n, n)
		}
		if !gen[n] {
			t.Errorf("shaders/%s.comp is missing from zz_generated.go: run ./build.sh shaders", n)
		}
	}
	for _, n := range fromSPV {
		if !compSet[n] {
			t.Errorf("spirv/%s.spv has no shaders/%s.comp: run ./build.sh shaders", n, n)
		}
	}
	for _, n := range Names() {
		if !compSet[n] {
			t.Errorf("zz_generated.go has shader %q with no source: run ./build.sh shaders", n)
		}
	}
}

func TestShadersAreSane(t *testing.T) {
	hashes := sourceHashes(t)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			s, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != name {
				t.Errorf("Name = %q", s.Name)
			}
			if len(s.Code) == 0 || len(s.Code)%4 != 0 {
				t.Fatalf("Code has %d bytes", len(s.Code))
			}
			w := s.Words()
			if w[0] != spvreflect.Magic {
				t.Errorf("magic = %#08x, want %#08x", w[0], spvreflect.Magic)
			}
			if len(w) != len(s.Code)/4 {
				t.Errorf("Words() has %d words for %d bytes", len(w), len(s.Code))
			}
			if len(s.Bindings) == 0 {
				t.Error("no bindings")
			}
			for i, b := range s.Bindings {
				if b.Name == "" {
					t.Errorf("binding %d has no name", i)
				}
				if i > 0 {
					p := s.Bindings[i-1]
					if p.Set > b.Set || (p.Set == b.Set && p.Binding >= b.Binding) {
						t.Errorf("bindings not sorted and unique at %d", i)
					}
				}
			}
			for d, n := range s.LocalSize {
				if n == 0 {
					t.Errorf("LocalSize[%d] = 0", d)
				}
			}
			for i := 1; i < len(s.SpecConstants); i++ {
				if s.SpecConstants[i-1].ID >= s.SpecConstants[i].ID {
					t.Errorf("spec constants not sorted and unique at %d", i)
				}
			}
			if want := hashes[name+".comp"]; s.SourceSHA256 != want {
				t.Errorf("SourceSHA256 = %s, shaders/%s.comp hashes to %s: run ./build.sh shaders", s.SourceSHA256, name, want)
			}

			// The generated tables must be what the module itself says.
			m, err := spvreflect.Parse(s.Code)
			if err != nil {
				t.Fatalf("reflect embedded module: %v", err)
			}
			if m.LocalSize != s.LocalSize || m.LocalSizeIDs != s.LocalSizeIDs || m.PushConstantSize != s.PushConstantSize {
				t.Errorf("local size / push constants differ from the module: %+v vs %+v", s, m)
			}
			var bs []Binding
			for _, b := range m.Bindings {
				bs = append(bs, Binding{Set: b.Set, Binding: b.Binding, Kind: BindingKind(b.Kind), Name: b.Name, ReadOnly: b.ReadOnly})
			}
			if !reflect.DeepEqual(bs, s.Bindings) {
				t.Errorf("bindings differ from the module:\n got %+v\nwant %+v", s.Bindings, bs)
			}
			var scs []SpecConstant
			for _, c := range m.SpecConstants {
				scs = append(scs, SpecConstant{ID: c.ID, Name: c.Name, Default: c.Default})
			}
			if !reflect.DeepEqual(scs, s.SpecConstants) {
				t.Errorf("spec constants differ from the module:\n got %+v\nwant %+v", s.SpecConstants, scs)
			}
		})
	}
}

// TestInterfaces pins the interfaces the engine records against.
func TestInterfaces(t *testing.T) {
	ro := func(b uint32, name string) Binding {
		return Binding{Binding: b, Kind: StorageBuffer, Name: name, ReadOnly: true}
	}
	wo := func(b uint32, name string) Binding {
		return Binding{Binding: b, Kind: StorageBuffer, Name: name}
	}
	tests := []struct {
		name      string
		bindings  []Binding
		push      uint32
		local     [3]uint32
		localIDs  [3]int32
		specNames map[uint32]string
	}{
		{
			name:     "gemm",
			bindings: []Binding{ro(0, "A"), ro(1, "B"), ro(2, "bias"), wo(3, "C")},
			push:     7 * 4,
			local:    [3]uint32{8, 8, 1},
			localIDs: [3]int32{0, 1, -1},
			specNames: map[uint32]string{0: "local_size_x", 1: "local_size_y", 2: "TM", 3: "TN",
				4: "TRANS_A", 5: "TRANS_B", 6: "HAS_BIAS", 7: "ACT"},
		},
		{
			name:      "bias",
			bindings:  []Binding{ro(0, "x"), ro(1, "bias"), wo(2, "y")},
			push:      2 * 4,
			local:     [3]uint32{64, 1, 1},
			localIDs:  [3]int32{0, -1, -1},
			specNames: map[uint32]string{0: "local_size_x"},
		},
		{
			name:      "relu",
			bindings:  []Binding{ro(0, "x"), wo(1, "y")},
			push:      4,
			local:     [3]uint32{64, 1, 1},
			localIDs:  [3]int32{0, -1, -1},
			specNames: map[uint32]string{0: "local_size_x"},
		},
		{
			name:      "softmax",
			bindings:  []Binding{ro(0, "x"), wo(1, "y")},
			push:      3 * 4,
			local:     [3]uint32{64, 1, 1},
			localIDs:  [3]int32{0, -1, -1},
			specNames: map[uint32]string{0: "local_size_x", 1: "LOG", 2: "SERIAL"},
		},
		{
			name:      "unary",
			bindings:  []Binding{ro(0, "x"), wo(1, "y")},
			push:      5 * 4,
			local:     [3]uint32{64, 1, 1},
			localIDs:  [3]int32{0, -1, -1},
			specNames: map[uint32]string{0: "local_size_x", 1: "OP"},
		},
		{
			name:      "binary",
			bindings:  []Binding{ro(0, "a"), ro(1, "b"), wo(2, "y")},
			push:      (5 + 3*6) * 4,
			local:     [3]uint32{64, 1, 1},
			localIDs:  [3]int32{0, -1, -1},
			specNames: map[uint32]string{0: "local_size_x", 1: "OP", 2: "MODE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Lookup(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.Bindings, tt.bindings) {
				t.Errorf("bindings:\n got %+v\nwant %+v", s.Bindings, tt.bindings)
			}
			if s.PushConstantSize != tt.push {
				t.Errorf("PushConstantSize = %d, want %d", s.PushConstantSize, tt.push)
			}
			if s.LocalSize != tt.local || s.LocalSizeIDs != tt.localIDs {
				t.Errorf("local size %v ids %v, want %v ids %v", s.LocalSize, s.LocalSizeIDs, tt.local, tt.localIDs)
			}
			got := map[uint32]string{}
			for _, c := range s.SpecConstants {
				got[c.ID] = c.Name
			}
			if !reflect.DeepEqual(got, tt.specNames) {
				t.Errorf("spec constants %v, want %v", got, tt.specNames)
			}
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := Lookup("nope")
	if !errors.Is(err, ErrUnknownShader) {
		t.Fatalf("err = %v, want ErrUnknownShader", err)
	}
	for _, want := range []string{`"nope"`, "gemm", "softmax"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestWordsIsACopy(t *testing.T) {
	s, err := Lookup("relu")
	if err != nil {
		t.Fatal(err)
	}
	w := s.Words()
	w[0] = 0
	if s.Words()[0] != spvreflect.Magic {
		t.Fatal("Words shares memory with Code")
	}
}

func TestBindingKindString(t *testing.T) {
	for k, want := range map[BindingKind]string{
		StorageBuffer: "StorageBuffer", UniformBuffer: "UniformBuffer",
		UniformTexelBuffer: "UniformTexelBuffer", StorageTexelBuffer: "StorageTexelBuffer",
		BindingKind(9): "Kind(9)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}
