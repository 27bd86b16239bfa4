package guest

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// checkOwnDir accepts a real directory owned by this user that no one else
// may write to.
func checkOwnDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return errors.New("not a directory")
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("owned by another user")
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("writable by others (mode %v)", st.Mode().Perm())
	}
	return nil
}
