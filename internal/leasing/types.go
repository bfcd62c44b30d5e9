package leasing

import "github.com/kinesin-go/kinesin/lease"

// The lease package's types and errors, by their short names: the Manager
// runs the protocol over them.
type (
	Lease  = lease.Lease
	Worker = lease.Worker
	Store  = lease.Store
	Clock  = lease.Clock
	Option = lease.Option
)

var (
	ErrLost          = lease.ErrLost
	ErrExists        = lease.ErrExists
	ErrInvalid       = lease.ErrInvalid
	ErrInvalidOption = lease.ErrInvalidOption
)
