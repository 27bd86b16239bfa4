package docker

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/isobench/isobench/internal/backend"
	"github.com/isobench/isobench/internal/digest"
)

// imageRepo names isobench's agent images; the tag is the agent's content
// hash, so an image is imported once per isobench build and reused after.
const imageRepo = "isobench-agent"

// agentInImage is where the agent sits in the image, as in the OCI rootfs.
const agentInImage = "/isobench"

// ensureImage imports the agent image unless the daemon has it already,
// and removes agent images of other builds that no container uses.
func (b *Backend) ensureImage(ctx context.Context) error {
	sum, err := digest.File(b.env.AgentPath)
	if err != nil {
		return fmt.Errorf("agent image: %w", err)
	}
	tag := sum[:16]
	b.image = imageRepo + ":" + tag
	if ok, err := b.api.ImageExists(ctx, b.image); err != nil {
		return fmt.Errorf("agent image %s: %w", b.image, err)
	} else if ok {
		return nil
	}
	if err := b.importImage(ctx); err != nil {
		return err
	}
	b.removeOldImages(ctx)
	return nil
}

// importImage streams a rootfs holding only the agent and the empty mount
// points it needs into the daemon: no registry is involved.
func (b *Backend) importImage(ctx context.Context) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfsTar(pw, b.env.AgentPath)) }()
	defer pr.Close()
	ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	repo, tag, _ := strings.Cut(b.image, ":")
	if err := b.api.ImageImport(ictx, pr, repo, tag, []string{"LABEL org.isobench.agent=1"}); err != nil {
		return fmt.Errorf("import agent image %s: %w", b.image, err)
	}
	return nil
}

// removeOldImages deletes agent images of other isobench builds. One in
// use by a container (another run in progress) stays.
func (b *Backend) removeOldImages(ctx context.Context) {
	list, err := b.api.Images(ctx, imageRepo)
	if err != nil {
		return
	}
	for _, img := range list {
		if !slices.Contains(img.RepoTags, b.image) {
			_ = b.api.ImageRemove(ctx, img.ID)
		}
	}
}

// writeRootfsTar writes the image's root filesystem: the agent and the
// directories that the container's mounts and workloads use.
func writeRootfsTar(w io.Writer, agentPath string) error {
	tw := tar.NewWriter(w)
	now := time.Unix(0, 0)
	dirs := []struct {
		name string
		mode int64
	}{
		{"proc", 0o755}, {"dev", 0o755}, {"sys", 0o755}, {"tmp", 0o1777},
		{strings.TrimPrefix(backend.ScratchInSandbox, "/"), 0o755},
		{"var", 0o755}, {"var/tmp", 0o1777}, {strings.TrimPrefix(backend.RootDirInSandbox, "/"), 0o1777},
	}
	for _, d := range dirs {
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
	return tw.Close()
}
