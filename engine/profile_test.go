package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// A profiled program reports one step per Step call (empty ones included),
// plus upload and download steps under staging, with non-negative durations
// that follow one another, and still computes the right result.
func TestProfileSteps(t *testing.T) {
	for _, staging := range []bool{false, true} {
		for _, mode := range []engine.ProfileMode{engine.ProfileDevice, engine.ProfileHost, engine.ProfileAuto} {
			name := mode.String()
			if staging {
				name += "/staging"
			}
			t.Run(name, func(t *testing.T) {
				d := gputest.Open(t, engine.Options{ForceStaging: staging})
				if mode == engine.ProfileDevice && !d.Info().Timestamps {
					t.Skipf("%s has no timestamps on its compute queue", d.Info().Name)
				}
				const n = 1000
				relu, err := d.Pipeline("relu", engine.Spec{"local_size_x": 64})
				require.NoError(t, err)
				bufs := make([]*engine.Buffer, 4)
				for i := range bufs {
					bufs[i], err = d.NewBuffer(engine.Activations, 4*n)
					require.NoError(t, err)
				}
				rec := d.NewRecorder()
				rec.Profile(mode)
				require.NoError(t, rec.Input(bufs[0]))
				rec.Step("first")
				require.NoError(t, rec.Dispatch(relu, bufs[0:2], []uint32{n}, d.Grid(relu, n)))
				rec.Step("empty")
				rec.Step("two")
				require.NoError(t, rec.Dispatch(relu, bufs[1:3], []uint32{n}, d.Grid(relu, n)))
				require.NoError(t, rec.Copy(bufs[2], bufs[3]))
				require.NoError(t, rec.Output(bufs[3]))
				prog, err := rec.Finish()
				require.NoError(t, err)
				defer prog.Close()
				_, err = prog.Profile()
				require.ErrorIs(t, err, engine.ErrNoProfile, "before the first run")

				in := make([]float32, n)
				for i := range in {
					in[i] = float32(i%7 - 3)
				}
				out := make([]float32, n)
				for run := 0; run < 3; run++ {
					clear(out)
					require.NoError(t, prog.Run(context.Background(), []engine.IO{{Buf: bufs[0], Data: in}}, []engine.IO{{Buf: bufs[3], Data: out}}))
					for i := range in {
						require.Equal(t, max(in[i], 0), out[i], "element %d", i)
					}
					pr, err := prog.Profile()
					require.NoError(t, err)
					want := []string{"first", "empty", "two"}
					staged := d.Info().Staging // ForceStaging, a discrete GPU or VKINFER_LIMITS=min
					if staged {
						want = append(append([]string{"(upload inputs)"}, want...), "(download outputs)")
					}
					var names []string
					var sum, next int64
					for _, s := range pr.Steps {
						names = append(names, s.Name)
						require.GreaterOrEqual(t, int64(s.Duration), int64(0), s.Name)
						require.Equal(t, next, int64(s.Start), "step %s starts where the one before ended", s.Name)
						next += int64(s.Duration)
						sum += int64(s.Duration)
					}
					require.Equal(t, want, names)
					require.Equal(t, sum, int64(pr.Total))
					first, empty, two := pr.Steps[len(pr.Steps)-3], pr.Steps[len(pr.Steps)-2], pr.Steps[len(pr.Steps)-1]
					if staged {
						first, empty, two = pr.Steps[1], pr.Steps[2], pr.Steps[3]
						require.Equal(t, 1, pr.Steps[0].Copies)
						require.Equal(t, 1, pr.Steps[4].Copies)
					}
					require.Equal(t, [2]int{1, 0}, [2]int{first.Dispatches, first.Copies})
					require.Equal(t, []string{"relu"}, first.Kernels)
					require.Equal(t, []int{0, 1, 2}, []int{first.Step, empty.Step, two.Step})
					require.Equal(t, [2]int{0, 0}, [2]int{empty.Dispatches, empty.Copies})
					require.Equal(t, [2]int{1, 1}, [2]int{two.Dispatches, two.Copies})
					if mode == engine.ProfileHost {
						require.Zero(t, empty.Duration, "a step without commands is not submitted")
						require.Equal(t, engine.ProfileHost, pr.Mode)
					} else if d.Info().Timestamps {
						require.Equal(t, engine.ProfileDevice, pr.Mode)
					}
				}
			})
		}
	}
}

func TestProfileOff(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	rec := d.NewRecorder()
	rec.Step("nothing")
	prog, err := rec.Finish()
	require.NoError(t, err)
	defer prog.Close()
	require.NoError(t, prog.Run(context.Background(), nil, nil))
	_, err = prog.Profile()
	require.True(t, errors.Is(err, engine.ErrNoProfile), "%v", err)
}
