// Package svctime reads the service's clock from the responses of the AWS
// SDK, for the positions kinesin derives from "now": the time Latest stands
// for, and where a read that began at LATEST resumes.
package svctime

import (
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
)

// Before returns a time no later than the service's clock when the response
// of md was sent: its Date header, which has a resolution of one second,
// truncated to the second. When the client did not record it (a wrapper, a
// response without Date), it returns local, a reading of this host's clock
// taken before the call was sent, less margin for the difference between the
// two clocks.
func Before(md middleware.Metadata, local time.Time, margin time.Duration) time.Time {
	if t, ok := awsmiddleware.GetServerTime(md); ok && !t.IsZero() {
		return t.Truncate(time.Second)
	}
	return local.Add(-margin)
}
