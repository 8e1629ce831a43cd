// Types the request bodies of the README and the contract against the schema's TypeScript types
// (`make lint-schema` generates build/api.d.ts with openapi-typescript, then runs
// `tsc --strict --noEmit`). A body a user can send must type-check as written: fields with
// defaults stay optional, and responses expose what the README reads from them.
import type { components, operations, paths } from "./build/api";

type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: { content: { "application/json": infer B } };
}
  ? B
  : never;

type Schemas = components["schemas"];

// README "First API call": create a customer.
export const newCustomer: Body<"/api/v1/customers/", "post"> = {
  name: "Ada",
  email: "ada@example.com",
  mobile: "+44 20 7946 0018",
};

// Contract: tagging a customer (StateSet shape); create_missing has a default, so may be left out.
export const tagCall: Body<"/api/v1/customers/{id}/tag", "post"> = {
  tags_to_add: ["vip", "high_value"],
  tags_to_remove: ["prospect"],
  tag_metadata: { category: "loyalty", source: "manual", expiry_date: "2024-12-31" },
};
export const minimalTagCall: Schemas["CustomerTagRequest"] = { tags_to_add: ["vip"] };

// bulk_tag by ids, with the optional reason.
export const bulk: Body<"/api/v1/customers/bulk_tag", "post"> = {
  customer_ids: ["01jbx6m2qf7d8h4kz9w3n5c0vt"],
  tags_to_add: ["winback_2026"],
  reason: "Q3 campaign",
};

// A customer tag (Payiano shape) and a segment rule.
export const newTag: Body<"/api/v1/customer_tags/", "post"> = {
  name: "vip",
  metadata: { info: [{ key: "tier", value: "gold" }], list: ["loyalty"] },
};
export const newSegment: Body<"/api/v1/segments/", "post"> = {
  name: "Premium Customers",
  rule: { all: ["vip"], none: ["churned"] },
};

// Capillary-shaped status change, by lookup.
export const statusChange: Body<"/api/v1/customers/lookup/status", "put"> = {
  reason: "Customer asked to close the account",
  label: "Inactive",
};
export const lookupQuery: operations["customer_status_set_by_lookup"]["parameters"]["query"] = {
  source: "INSTORE",
  identifierName: "mobile",
  identifierValue: "1234512345",
};

// Responses: the envelopes and the shared error shape.
export function tagNames(page: Schemas["PaginatedTagList"]): string[] {
  return page.customer_tags.map((tag) => tag.name);
}
export function restoredId(body: Schemas["TagEnvelope"]): string {
  return body.customer_tag.id;
}
export function firstErrorAttr(body: Schemas["BadRequestResponse"]): string | null {
  return body.errors[0]?.attr ?? null;
}
export function tagCount(body: Schemas["CustomerTagResponse"]): number {
  return body.tag_count;
}
