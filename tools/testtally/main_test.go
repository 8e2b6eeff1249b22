package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A stream like `go test -json` writes for one failing and one passing
// package, and one that did not build.
const stream = `{"ImportPath":"x/b [x/b.test]","Action":"build-output","Output":"# x/b [x/b.test]\n"}
{"ImportPath":"x/b [x/b.test]","Action":"build-output","Output":"b/b_test.go:3:27: undefined: nope\n"}
{"Action":"start","Package":"x/a"}
{"Action":"output","Package":"x/b","Output":"FAIL\tx/b [build failed]\n"}
{"Action":"fail","Package":"x/b","Elapsed":0}
{"Action":"run","Package":"x/a","Test":"TestOK"}
{"Action":"output","Package":"x/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"output","Package":"x/a","Test":"TestOK","Output":"    a_test.go:3: quiet\n"}
{"Action":"output","Package":"x/a","Test":"TestOK/sub","Output":"=== RUN   TestOK/sub\n"}
{"Action":"pass","Package":"x/a","Test":"TestOK/sub","Elapsed":0}
{"Action":"pass","Package":"x/a","Test":"TestOK","Elapsed":0}
{"Action":"output","Package":"x/a","Test":"TestSkip","Output":"    a_test.go:4: why\n"}
{"Action":"skip","Package":"x/a","Test":"TestSkip","Elapsed":0}
{"Action":"output","Package":"x/a","Test":"TestFail","Output":"    a_test.go:5: loud\n"}
{"Action":"output","Package":"x/a","Test":"TestFail","Output":"--- FAIL: TestFail (0.00s)\n"}
{"Action":"fail","Package":"x/a","Test":"TestFail","Elapsed":0}
{"Action":"output","Package":"x/a","Test":"TestPanic","Output":"panic: boom\n"}
{"Action":"output","Package":"x/a","Output":"FAIL\n"}
{"Action":"output","Package":"x/a","Output":"FAIL\tx/a\t0.071s\n"}
{"Action":"fail","Package":"x/a","Elapsed":0.073}
{"Action":"output","Package":"x/c","Output":"PASS\n"}
{"Action":"output","Package":"x/c","Output":"ok  \tx/c\t0.01s\n"}
{"Action":"pass","Package":"x/c","Elapsed":0.01}
`

func TestRun(t *testing.T) {
	var out strings.Builder
	tl, err := run(strings.NewReader(stream), &out)
	require.NoError(t, err)
	require.Equal(t, []string{"x/a TestOK/sub", "x/a TestOK"}, tl.passed)
	require.Equal(t, []string{"x/a TestSkip"}, tl.skipped)
	require.Equal(t, []string{"x/a TestFail"}, tl.failed)
	require.Equal(t, 2, tl.failedPkgs)
	s := out.String()
	require.Contains(t, s, "undefined: nope")
	require.Contains(t, s, "a_test.go:5: loud")
	require.Contains(t, s, "panic: boom", "an unfinished test's output is shown when its package fails")
	require.Contains(t, s, "ok  \tx/c")
	require.Contains(t, s, "tests: 2 passed, 1 skipped, 1 failed; 2 package(s) failed")
	require.NotContains(t, s, "quiet", "a passing test's output is not shown")
	require.NotContains(t, s, "why")
}

func TestTopLevel(t *testing.T) {
	require.Equal(t, []string{"x/a TestA", "x/b TestB"}, topLevel([]string{"x/b TestB", "x/a TestA/sub", "x/a TestA"}))
}

func TestMissing(t *testing.T) {
	miss, err := missing(strings.NewReader("x/a TestOK\nx/a TestGone\n\n"), []string{"x/a TestOK", "x/a TestNew"})
	require.NoError(t, err)
	require.Equal(t, []string{"x/a TestGone"}, miss)
}
