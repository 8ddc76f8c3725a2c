package audit

// Event types of scheduled disaster-recovery drills (retention.Scheduler).
// A drill's own outcome is TypeDrillPassed or TypeDrillFailed, recorded at
// every drill: a failed drill is LevelWarning there, not LevelError, so
// that DefaultNotifyFilter does not deliver it at every drill. What needs
// someone's attention is TypeDrillAlert, recorded at LevelError once when
// a tenant enters a breach (DataCondition says which) and again only after
// it recovered and breached anew, as TypeRPOBreach is.
const (
	// TypeDrillPassed: a scheduled drill restored the tenant's newest
	// snapshot and every validation check passed. Data: DataSnapshotID,
	// DataTTRMS, DataSLOMS (when the policy has an SLO), "status".
	TypeDrillPassed EventType = "drill.passed"
	// TypeDrillFailed: a scheduled drill found the newest snapshot not
	// restorable whole (or no snapshot at all); Data["report"] says why.
	TypeDrillFailed EventType = "drill.failed"
	// TypeDrillAlert: a tenant entered a drill breach: DataCondition is
	// DrillConditionFailed, DrillConditionSlow or DrillConditionOverdue.
	TypeDrillAlert EventType = "drill.alert"
)

// Keys of Event.Data in drill events.
const (
	// DataSLOMS is the time-to-restore objective, in milliseconds.
	DataSLOMS = "slo_ms"
	// DataCondition names the breach a TypeDrillAlert reports (string).
	DataCondition = "condition"
)

// Conditions of a TypeDrillAlert (its DataCondition).
const (
	// DrillConditionFailed: the tenant's latest drill failed.
	DrillConditionFailed = "failed"
	// DrillConditionSlow: the latest drill's time to restore exceeded the
	// policy's SLO.
	DrillConditionSlow = "ttr_over_slo"
	// DrillConditionOverdue: the tenant's last successful drill is older
	// than its drill schedule allows.
	DrillConditionOverdue = "overdue"
)
