//go:build !unix

package chaos

import (
	"context"
	"errors"
)

// Soak needs Unix signals (SIGSTOP, SIGCONT, process groups): elsewhere it
// fails.
func Soak(ctx context.Context, cfg Config) (*Report, error) {
	return nil, errors.New("chaos: the soak runs on Unix only")
}
