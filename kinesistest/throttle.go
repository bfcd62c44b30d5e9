package kinesistest

// Control-plane call rates, with WithServiceLimits.
//
// Behavior:
//   - Each control-plane operation the API reference gives a rate for (see
//     ControlPlaneRates) takes that many calls a second, per account or per
//     stream as the reference says, in a window sliding on the fake's clock;
//     one more is LimitExceededException (HTTP 400), which the SDKs retry as
//     a throttle. Refused calls do not count against the window.
//   - A call about a stream that does not exist is not rate limited per
//     stream: it fails with ResourceNotFoundException on its own.
//   - The data plane has its own limits (see Limits); helpers of the Fake are
//     never limited.

import "time"

// throttle answers LimitExceededException for a control-plane call over its
// rate. Callers hold f.mu.
func (f *Fake) throttle(c *call, now time.Time) *apiError {
	l := f.cfg.limits
	r, ok := controlPlane[c.op]
	if l == nil || !ok {
		return nil
	}
	rate := l.CallRates[c.op]
	var w *rateWindow
	scope := "account " + f.cfg.account
	if r.perStream {
		s := f.streams[c.match.Stream]
		if s == nil {
			return nil
		}
		if s.rates == nil {
			s.rates = make(map[string]*rateWindow)
		}
		if w = s.rates[c.op]; w == nil {
			w = new(rateWindow)
			s.rates[c.op] = w
		}
		scope = "stream " + s.name + " under account " + f.cfg.account
	} else {
		if f.rates == nil {
			f.rates = make(map[string]*rateWindow)
		}
		if w = f.rates[c.op]; w == nil {
			w = new(rateWindow)
			f.rates[c.op] = w
		}
	}
	if !w.allow(now, rate) {
		return errorf(CodeLimitExceeded, "Rate exceeded for %s on %s: the limit is %d calls a second.", c.op, scope, rate)
	}
	return nil
}
