// The fields of an issue request, by their names in the API. Which of them a request must carry is
// a setting (TRACKING_REQUIRED_FIELDS): carriers' clients differ, and one that leaves a field out
// gets it stored as absent (NULL) and returned as null.
export const ISSUE_FIELDS = [
  'origin_country_id',
  'destination_country_id',
  'weight',
  'created_at',
  'customer_id',
  'customer_name',
  'customer_slug',
] as const
export type IssueField = (typeof ISSUE_FIELDS)[number]

export function isIssueField(name: string): name is IssueField {
  return (ISSUE_FIELDS as readonly string[]).includes(name)
}

/** With route-format numbers, the number carries the lane: no number without one. */
export const LANE_FIELDS: readonly IssueField[] = ['origin_country_id', 'destination_country_id']
