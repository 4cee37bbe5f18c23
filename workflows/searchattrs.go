package workflows

import "go.temporal.io/sdk/temporal"

// Custom search attributes every run carries, so the Temporal Web UI can
// filter Baton runs. The embedded server registers them at start; production
// namespaces need them registered once (see README).
var (
	SearchStatus       = temporal.NewSearchAttributeKeyKeyword("BatonStatus")
	SearchDefinitionID = temporal.NewSearchAttributeKeyKeyword("BatonDefinitionID")
	SearchBizdate      = temporal.NewSearchAttributeKeyKeyword("BatonBizdate")
)

// SearchAttributeNames lists the attribute names, all of type Keyword.
func SearchAttributeNames() []string {
	return []string{SearchStatus.GetName(), SearchDefinitionID.GetName(), SearchBizdate.GetName()}
}
