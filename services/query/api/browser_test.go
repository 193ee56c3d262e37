package api

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The dashboard is tested in a real headless Chromium (Debian's chromium,
// which scripts/chromium.sh installs for CI and `make test`): one browser per
// test binary, a tab per test. Without it the tests fail, unless
// BROWSER_TESTS=skip says to skip them on a developer machine without
// chromium (never under CI=true). CHROMIUM_PATH names another binary.
// Screenshots go to $TEST_ARTIFACTS/dashboard, or ./artifacts/dashboard
// (git-ignored).

var chrome struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	err    error
}

// closeBrowser ends the test binary's browser, if it started one.
func closeBrowser() {
	if chrome.cancel != nil {
		chrome.cancel()
	}
}

// tab opens a tab in the test binary's browser, failing t on any uncaught
// script error in it.
func tab(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROMIUM_PATH")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("BROWSER_TESTS") == "skip" && os.Getenv("CI") == "" { // CI installs chromium: never skipped there
			t.Skipf("skipped: BROWSER_TESTS=skip and no chromium at %s", path)
		}
		t.Fatalf("no chromium at %s (%v): install it (scripts/chromium.sh, apt-get install chromium), set CHROMIUM_PATH "+
			"to another binary, or BROWSER_TESTS=skip to skip the browser tests", path, err)
	}
	chrome.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900),
			chromedp.Flag("disable-dev-shm-usage", true))
		if os.Geteuid() == 0 { // Chromium refuses to run as root inside its sandbox
			opts = append(opts, chromedp.NoSandbox)
		}
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		chrome.ctx, chrome.cancel = bctx, func() { bcancel(); acancel() }
		chrome.err = chromedp.Do(bctx) // starts the browser; it lives as long as bctx
	})
	if chrome.err != nil {
		t.Fatalf("start chromium %s: %v", path, chrome.err)
	}
	ctx, cancel := chromedp.NewContext(chrome.ctx)
	var mu sync.Mutex
	var scriptErrors []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var d *runtime.ExceptionDetails
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d = e.ExceptionDetails
		case runtime.EventExceptionThrown:
			d = e.ExceptionDetails
		}
		if d != nil {
			msg := fmt.Sprintf("%s at %s:%d:%d", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
			if d.Exception != nil {
				msg += ": " + d.Exception.Description
			}
			mu.Lock()
			scriptErrors = append(scriptErrors, msg)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		stop()
		cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, e := range scriptErrors {
			t.Errorf("script error in the page: %s", e)
		}
	})
	return ctx
}

func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	dir, err := filepath.Abs(filepath.Join(dir, "dashboard"))
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the whole page as name.png in the artifacts.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	save(t, ctx, name, chromedp.FullScreenshot(100))
}

// screen saves what the window shows (a phone's first screen) as name.png.
func screen(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	save(t, ctx, name, chromedp.CaptureScreenshot())
}

func save(t *testing.T, ctx context.Context, name string, shot chromedp.Action[[]byte]) {
	t.Helper()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(artifacts(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

// phone shows the page as a phone would (390×844), and laptop back.
func phone(ctx context.Context) error {
	return chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
}

func laptop(ctx context.Context) error {
	return chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900))
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval is the value of a script in the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitFor waits until the expression is true in the page, across a
// navigation the page starts itself (which ends a poll under way).
func waitFor(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return
		}
		if time.Now().Before(deadline) && (strings.Contains(err.Error(), "Cannot find context") || strings.Contains(err.Error(), "navigated or closed")) {
			continue // the page navigated: poll the new one
		}
		banner, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("banner")?.textContent`))
		t.Fatalf("waiting for %s: %v (banner: %q)", js, err, banner)
	}
}

// clear empties an input as a user deleting its text would.
func clear(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	eval[bool](t, ctx, `(e => { e.value = ""; e.dispatchEvent(new Event("input")); return true })(document.getElementById("`+id+`"))`)
}
