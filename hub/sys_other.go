//go:build !unix

package hub

import "context"

// lockFile is a no-op where flock is unavailable.
func lockFile(ctx context.Context, path string) (unlock func(), err error) { return func() {}, nil }

// freeSpace is unknown where statfs is unavailable.
func freeSpace(dir string) (int64, bool) { return 0, false }

// termWidth is unknown where the ioctl is unavailable.
func termWidth(w any) int { return 0 }
