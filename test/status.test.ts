import { test } from "node:test";
import assert from "node:assert/strict";
import { HTTPStatus, httpStatus, responses } from "../src/http/status.js";

test("HTTPStatus members are the numeric codes", () => {
  assert.equal(HTTPStatus.NOT_FOUND, 404);
  assert.equal(HTTPStatus.IM_A_TEAPOT, 418);
});

test("3.14 phrases replace the RFC 7231 ones, and the old names stay as aliases", () => {
  assert.deepEqual(responses[413], ["Content Too Large", "Content is too large"]);
  assert.deepEqual(responses[414], ["URI Too Long", "URI is too long"]);
  assert.equal(responses[416]![0], "Range Not Satisfiable");
  assert.equal(responses[422]![0], "Unprocessable Content");
  assert.equal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, 413);
  assert.equal(HTTPStatus.REQUEST_URI_TOO_LONG, 414);
  assert.equal(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, 416);
  assert.equal(HTTPStatus.UNPROCESSABLE_ENTITY, 422);
});

test("every 3.14 description is filled in, and 418's has no final period", () => {
  for (const [code, [phrase, description]] of Object.entries(responses)) {
    assert.ok(phrase, `phrase of ${code}`);
    assert.ok(description, `description of ${code}`);
  }
  assert.equal(responses[418]![1], "Server refuses to brew coffee because it is a teapot");
  assert.equal(responses[102]![1], "Server is processing the request");
});

test("httpStatus(code) gives the member's details, undefined for unknown codes", () => {
  assert.deepEqual(httpStatus(505), {
    value: 505,
    name: "HTTP_VERSION_NOT_SUPPORTED",
    phrase: "HTTP Version Not Supported",
    description: "Cannot fulfill request",
  });
  assert.equal(httpStatus(999), undefined);
});
