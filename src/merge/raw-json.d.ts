// JSON.rawJSON and JSON.isRawJSON (ES2025 "JSON.parse source text access", in V8 since Node 21), which this
// project's TypeScript lib and @types/node do not declare yet. The proxy only ever makes raw numbers.

// A type alias, not an interface, so that it fits the project's JsonValue object type.
type RawJSON = { readonly rawJSON: string }

interface JSON {
  rawJSON(text: string): RawJSON
  isRawJSON(value: unknown): value is RawJSON
}
