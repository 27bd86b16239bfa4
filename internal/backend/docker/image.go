package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	guestimage "github.com/isobench/isobench/internal/image"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/imagetree"
)

// imageRepo names isobench's agent images. Each run imports its own,
// tagged with the run and the backend, and its end-of-run sweep removes
// it: agent images are not shared, so one run's cleanup can never pull an
// image from under another run (of another isobench build) in progress.
const imageRepo = "isobench-agent"

// agentInImage is where the agent sits in the image, as in the OCI rootfs.
const agentInImage = "/isobench"

// ensureImage imports this run's agent image unless it exists already,
// and, for a run with tool workloads, its tools image: the guest image
// with the agent, which only those workloads' containers run on (the
// others run on the agent image, as without tools).
func (b *Backend) ensureImage(ctx context.Context) error {
	b.image = imageRepo + ":" + b.env.RunID + "-" + string(b.f.name)
	if err := b.ensureOne(ctx, b.image, b.env.Image, ""); err != nil {
		return err
	}
	if b.env.Rootfs != "" {
		b.toolsImage = b.image + "-tools"
		return b.ensureOne(ctx, b.toolsImage, "", b.env.Rootfs)
	}
	return nil
}

func (b *Backend) ensureOne(ctx context.Context, name, tree, rootfs string) error {
	if ok, err := b.api.ImageExists(ctx, name); err != nil {
		return fmt.Errorf("agent image %s: %w", name, err)
	} else if ok {
		return nil
	}
	return b.importImage(ctx, name, tree, rootfs)
}

// removeImage deletes this run's images (the sweep at its end).
func (b *Backend) removeImage(ctx context.Context) error {
	var errs []error
	for _, name := range []string{b.image, b.toolsImage} {
		if name == "" {
			continue
		}
		if err := b.api.ImageRemove(ctx, name); err != nil && !IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: remove agent image %s: %w", b.f.name, name, err))
		}
	}
	return errors.Join(errs...)
}

// imageFor is the image a sandbox runs on.
func (b *Backend) imageFor(spec backend.Spec) string {
	if spec.Tools && b.toolsImage != "" {
		return b.toolsImage
	}
	return b.image
}

// importImage streams a root filesystem into the daemon (no registry is
// involved): the agent and the empty mount points it needs, on top of the
// guest image when rootfs is set.
func (b *Backend) importImage(ctx context.Context, name, tree, rootfs string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfsTar(pw, b.env.AgentPath, tree, rootfs)) }()
	defer pr.Close()
	timeout := 2 * time.Minute
	if rootfs != "" {
		timeout = 15 * time.Minute // a guest image is about a GiB
	}
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	repo, tag, _ := strings.Cut(name, ":")
	if err := b.api.ImageImport(ictx, pr, repo, tag, []string{"LABEL org.isobench.agent=1"}); err != nil {
		return fmt.Errorf("import agent image %s: %w", name, err)
	}
	return nil
}

// writeRootfsTar writes the image's root filesystem: the agent and the
// directories that the container's mounts and workloads use.
func writeRootfsTar(w io.Writer, agentPath, image, rootfs string) error {
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	if rootfs != "" {
		// The guest image first; the agent replaces its placeholder.
		agentRel := strings.TrimPrefix(agentInImage, "/")
		if err := guestimage.WriteTar(tw, rootfs, func(rel string) bool { return rel == agentRel }); err != nil {
			return err
		}
	}
	dirs := []struct {
		name string
		mode int64
	}{
		{"proc", 0o755}, {"dev", 0o755}, {"sys", 0o755}, {"tmp", 0o1777},
		{strings.TrimPrefix(backend.ScratchInSandbox, "/"), 0o755},
		{"var", 0o755}, {"var/tmp", 0o1777}, {strings.TrimPrefix(backend.RootDirInSandbox, "/"), 0o1777},
	}
	for _, d := range dirs {
		if rootfs != "" {
			if _, err := os.Lstat(filepath.Join(rootfs, d.name)); err == nil {
				continue // the image has it: a tar holds each path once
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name + "/", Mode: d.mode, ModTime: now}); err != nil {
			return err
		}
	}
	f, err := os.Open(agentPath)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(agentInImage, "/"), Mode: 0o755, Size: st.Size(), ModTime: now}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	if image != "" {
		if err := writeImageTree(tw, image, now); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeImageTree adds Env.Image's files to the image.
func writeImageTree(tw *tar.Writer, image string, mtime time.Time) error {
	entries, err := imagetree.Read(image)
	if err != nil {
		return err
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.Rel, Mode: int64(e.Mode.Perm()), ModTime: mtime}
		switch {
		case e.Mode.IsDir():
			h.Typeflag, h.Name = tar.TypeDir, e.Rel+"/"
		case e.Link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
		default:
			h.Typeflag, h.Size = tar.TypeReg, e.Size
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(e.Path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
	return nil
}
