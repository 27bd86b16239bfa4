package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/isobench/isobench/internal/guest"
	"github.com/isobench/isobench/internal/image"
	"github.com/isobench/isobench/internal/metric"
)

// imageCache is the guest image cache: $XDG_CACHE_HOME/isobench/images.
func imageCache(dir string) (image.Cache, error) {
	if dir != "" {
		return image.Cache{Dir: dir}, nil
	}
	base, err := guest.CacheDir()
	if err != nil {
		return image.Cache{}, err
	}
	return image.Cache{Dir: filepath.Join(base, "images")}, nil
}

func newImageCommand(ctx context.Context, g *globals) *cobra.Command {
	var cacheDir string
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, list and prune the guest images the standard-tool suites run on",
		Long: `A guest image is a Debian root filesystem made from Debian packages (debootstrap)
with the standard benchmark tools. One image serves every backend: containers run on
it as their root filesystem, VMs get it as an ext4 disk, Docker imports it. Images
are cached by the digest of their recipe and rebuilt only when it changes.`,
	}
	cmd.PersistentFlags().StringVar(&cacheDir, "cache", "", "image cache directory (default $XDG_CACHE_HOME/isobench/images)")

	var preset, mirror string
	var rebuild bool
	build := &cobra.Command{
		Use:   "build",
		Short: "Build a guest image (cached: a built one is reused)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			r, err := image.Preset(preset)
			if err != nil {
				return usagef("--preset: %v", err)
			}
			c, err := imageCache(cacheDir)
			if err != nil {
				return err
			}
			img, err := buildImage(ctx, g, c, r, mirror, rebuild)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s\t%s\t%s\n", img.Label(), humanBytes(img.SizeBytes), img.Rootfs())
			return nil
		},
	}
	build.Flags().StringVar(&preset, "preset", image.PresetStandard, "what the image holds: "+strings.Join(image.Presets(), ", "))
	build.Flags().StringVar(&mirror, "mirror", image.DefaultMirror, "Debian mirror debootstrap fetches from")
	build.Flags().BoolVar(&rebuild, "rebuild", false, "build again even if the image is cached")

	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the cached guest images",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			c, err := imageCache(cacheDir)
			if err != nil {
				return err
			}
			imgs, err := c.List()
			if err != nil {
				return err
			}
			if len(imgs) == 0 {
				fmt.Fprintf(g.stdout, "no images in %s (build one: isobench image build)\n", c.Dir)
				return nil
			}
			current := currentDigests()
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tRELEASE\tSIZE\tBUILT\tLAST USED\tCURRENT\tPATH")
			for _, i := range imgs {
				if i.Broken != "" {
					fmt.Fprintf(tw, "%s\t-\t-\t-\t-\tbroken (prune removes it): %s\t%s\n", filepath.Base(i.Dir), i.Broken, i.Dir)
					continue
				}
				cur := "no (prune removes it)"
				if current[i.Digest] {
					cur = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.Label(), i.Recipe.Release, humanBytes(i.SizeBytes),
					i.Built.Local().Format(time.DateTime), i.LastUsed.Local().Format(time.DateTime), cur, i.Dir)
			}
			return tw.Flush()
		},
	}

	var all bool
	var unused time.Duration
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove images no preset builds any more, images unused for --unused, and interrupted builds",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if unused < 0 {
				return usagef("--unused: %s is negative", unused)
			}
			c, err := imageCache(cacheDir)
			if err != nil {
				return err
			}
			removed, inUse, err := c.Prune(image.PruneOptions{All: all, UnusedFor: unused, Keep: currentDigests(), Stale: true})
			var freed int64
			for _, i := range removed {
				freed += i.SizeBytes
				fmt.Fprintf(g.stdout, "removed %s (%s)\n", filepath.Base(i.Dir), humanBytes(i.SizeBytes))
			}
			for _, i := range inUse {
				fmt.Fprintf(g.stdout, "kept %s: a running isobench uses it\n", filepath.Base(i.Dir))
			}
			fmt.Fprintf(g.stdout, "%d removed, %s freed\n", len(removed), humanBytes(freed))
			return err
		},
	}
	prune.Flags().BoolVar(&all, "all", false, "remove every image, current ones too")
	prune.Flags().DurationVar(&unused, "unused", 30*24*time.Hour, "also remove current images no run used for this long (0: keep them)")

	cmd.AddCommand(build, ls, prune)
	return cmd
}

// currentDigests are the images this isobench's presets build.
func currentDigests() map[string]bool {
	out := map[string]bool{}
	for _, p := range image.Presets() {
		if r, err := image.Preset(p); err == nil {
			out[r.Digest()] = true
		}
	}
	return out
}

// buildImage builds (or finds) an image, showing debootstrap's progress on
// one status line when stderr is a terminal and line by line otherwise.
func buildImage(ctx context.Context, g *globals, c image.Cache, r image.Recipe, mirror string, rebuild bool) (image.Image, error) {
	if img, ok, err := c.Lookup(r); err == nil && ok && !rebuild {
		return img, nil
	}
	fmt.Fprintf(g.stderr, "building guest image %s (%s, %d packages) with debootstrap; this takes a few minutes once\n", r.Name(), r.Release, len(r.Packages))
	start := time.Now()
	steps := 0
	status := newStatusLine(g.stderr)
	img, err := c.Build(ctx, r, image.BuildOptions{Mirror: mirror, Rebuild: rebuild, Progress: func(line string) {
		if strings.HasPrefix(line, "I: ") {
			steps++
			status.Show(fmt.Sprintf("[%3d %5.0fs] %s", steps, time.Since(start).Seconds(), strings.TrimPrefix(line, "I: ")))
		}
	}})
	status.Done()
	if err != nil {
		return image.Image{}, err
	}
	fmt.Fprintf(g.stderr, "built %s in %.0f s: %s\n", img.Label(), time.Since(start).Seconds(), humanBytes(img.SizeBytes))
	return img, nil
}

func humanBytes(n int64) string { return metric.Format(float64(n), metric.Bytes) }

// statusLine shows a long step's progress: rewritten in place on a
// terminal, one line per update in a log.
type statusLine struct {
	w    io.Writer
	tty  bool
	used bool
}

func newStatusLine(w io.Writer) *statusLine {
	f, ok := w.(*os.File)
	return &statusLine{w: w, tty: ok && term.IsTerminal(int(f.Fd()))}
}

func (s *statusLine) Show(msg string) {
	if !s.tty {
		fmt.Fprintln(s.w, msg)
		return
	}
	s.used = true
	fmt.Fprintf(s.w, "\r\033[K%s", msg)
}

func (s *statusLine) Done() {
	if s.used {
		fmt.Fprint(s.w, "\r\033[K")
	}
}
