package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// percentiles formats the count, median and maximum of ds.
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("n=%d p50 %v max %v", len(s), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// counts formats a map of counts, by key.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// String formats the report: the run, its figures, and every check with
// its examples.
func (r *Report) String() string {
	var b strings.Builder
	st := r.Settings
	fmt.Fprintf(&b, "chaos soak, %s mode, seed %d: %v of chaos, %d workers, lease %v, cycle %v\n",
		st.Mode, st.Seed, st.Duration, st.Workers, st.LeaseDuration, st.CycleInterval)
	if r.Actions != nil {
		fmt.Fprintf(&b, "  actions: %s\n", counts(r.Actions))
		fmt.Fprintf(&b, "  faults injected: %s; %d calls hit\n", counts(r.FaultKinds), r.FaultHits)
	}
	dups := 0
	var parts []string
	for _, cause := range causeOrder {
		dups += r.Duplicates[cause]
		parts = append(parts, fmt.Sprintf("%s %d", cause, r.Duplicates[cause]))
	}
	fmt.Fprintf(&b, "  records: %d acknowledged, %d of them handed out, %d hand-outs in all\n", r.Acked, r.Delivered, r.Deliveries)
	fmt.Fprintf(&b, "  duplicates: %d: %s\n", dups, strings.Join(parts, ", "))
	fmt.Fprintf(&b, "  records handed out after a SIGCONT, then their lease lost within a cycle (expired during the pause): %d\n", r.ResumedThenLost)
	fmt.Fprintf(&b, "  machine stalls (the driver did not run for 300ms or more): %s\n", percentiles(r.Stalls))
	fmt.Fprintf(&b, "  failover after SIGKILL: %s (bound %v + %v slack)\n", percentiles(r.Failover), st.LeaseDuration+st.CycleInterval, st.FailoverSlack)
	fmt.Fprintf(&b, "  handoff after SIGTERM: %s; after a Revoke: %s (and %d Revokes after which the same worker was assigned the shard again)\n",
		percentiles(r.HandoffClose), percentiles(r.HandoffRebalance), r.TakenBack)
	for _, c := range r.Checks {
		verdict := "PASS"
		if c.Failures > 0 {
			verdict = "FAIL"
		}
		fmt.Fprintf(&b, "  %s %s: %s\n", verdict, c.Name, c.Summary)
		for _, e := range c.Examples {
			fmt.Fprintf(&b, "      %s\n", e)
		}
		if c.Failures > len(c.Examples) && len(c.Examples) > 0 {
			fmt.Fprintf(&b, "      (%d failures in all)\n", c.Failures)
		}
	}
	return b.String()
}
