// A local Cosmos DB API server for tests/store_smoke_cosmos_shim.rs and benches/store.rs:
// the data model and routes of @vercel/cosmosdb-server (pinned in package.json) behind our own
// request loop, which answers the requests the Rust SDK needs differently itself:
//   - partition key ranges carry string ids (the SDK refuses numeric ones);
//   - a point read of a missing item is a 404 (the package throws a TypeError -> 500);
//   - queries honour the partition-key header and may fan out; query-plan requests are refused;
//   - batches take the partition key from the header; an atomic batch that fails rolls back and
//     answers the other operations with 424, as Cosmos DB does;
//   - the change feed (`A-IM: Incremental feed`) is incremental: the etag is a sequence number
//     and `If-None-Match` resumes after it (the package answers 304 forever after one page).
// Usage: node adapter.js [port, 0 = any] [--no-ssl]; prints `ready <url>` with the bound port.
// Limits: one physical partition; latest-version feed only; no `If-Modified-Since` start;
// accepts oversized documents and partition-key mismatches (Cosmos DB rejects both).
"use strict";

const fs = require("fs");
const http = require("http");
const https = require("https");
const path = require("path");
const { randomUUID } = require("crypto");

const pkg = path.dirname(require.resolve("@vercel/cosmosdb-server/package.json"));
const lib = (name) => require(path.join(pkg, "lib", name)).default;
const Account = lib("account");
const route = lib("routes");
const readItems = lib("handler/_read-items");
const readJson = lib("json");
const operations = require(path.join(pkg, "lib/handler/_document-operations"));
const handlers = {
  readDocument: lib("handler/read-document"),
  readDocuments: lib("handler/read-documents"),
  queryDocuments: lib("handler/query-documents"),
  batchDocuments: lib("handler/batch-documents"),
  readPartitionKeyRanges: lib("handler/read-partition-key-ranges"),
  readMeta: lib("handler/read-meta"),
};

const args = process.argv.slice(2);
const secure = !args.includes("--no-ssl");
const port = Number(args.find((a) => /^\d+$/.test(a)) ?? 0);

const isTrue = (req, name) => String(req.headers[name] ?? "").toLowerCase() === "true";

/** The partition key header as the package's documents store it (first component), if any. */
function partitionOf(req) {
  const header = req.headers["x-ms-documentdb-partitionkey"];
  if (!header || header === "[{}]") return undefined;
  try {
    const parsed = JSON.parse(header);
    return Array.isArray(parsed) ? parsed[0] : parsed;
  } catch {
    return undefined;
  }
}

/** The documents of a collection in modification order, optionally of one logical partition. */
function documentsOf(collection, partition) {
  const items = collection.documents;
  const all = [...items._data.values()].map((item) => item.read());
  return partition === undefined ? all : all.filter((doc) => items._getPartition(doc) === partition);
}

const notFound = (res) => {
  res.statusCode = 404;
  return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
};

// Change feed positions: a document gets the next sequence number the first time the feed sees
// its current etag. The package keeps documents in a Map and re-inserts a document when it is
// replaced, so Map order is modification order and numbers are handed out in that order.
let sequence = 0;
const positions = new WeakMap(); // collection -> Map(_rid -> { etag, lsn })

function feedOf(collection) {
  let seen = positions.get(collection);
  if (!seen) positions.set(collection, (seen = new Map()));
  for (const doc of documentsOf(collection)) {
    const known = seen.get(doc._rid);
    if (!known || known.etag !== doc._etag) seen.set(doc._rid, { etag: doc._etag, lsn: ++sequence });
  }
  return seen;
}

async function changeFeed(account, req, res, { dbId, collId }) {
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) return notFound(res);
  const seen = feedOf(collection);
  const since = req.headers["if-none-match"] === "*"
    ? sequence
    : Number(String(req.headers["if-none-match"] ?? "0").replace(/"/g, "")) || 0;
  const max = Number(req.headers["x-ms-max-item-count"] ?? -1);
  let docs = documentsOf(collection, partitionOf(req))
    .map((doc) => ({ doc, lsn: seen.get(doc._rid).lsn }))
    .filter((entry) => entry.lsn > since)
    .sort((a, b) => a.lsn - b.lsn);
  if (max > 0) docs = docs.slice(0, max);
  const last = docs.length ? docs[docs.length - 1].lsn : since;
  res.setHeader("etag", `"${last}"`);
  res.statusCode = docs.length ? 200 : 304;
  return { Documents: docs.map((entry) => entry.doc), _count: docs.length };
}

async function readDocument(account, req, res, { dbId, collId, docId }) {
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) return notFound(res);
  const partition = partitionOf(req);
  const doc = collection.document(docId, partition === undefined ? docId : partition).read();
  return doc ?? notFound(res);
}

async function queryDocuments(account, req, res, { dbId, collId }) {
  if (req.headers["x-ms-cosmos-is-query-plan-request"]) {
    res.statusCode = 400;
    return { code: "BadRequest", message: "query plans are not supported by this test server" };
  }
  const body = await readJson(req);
  const collection = account.database(dbId).collection(collId);
  return readItems(req, res, "Documents", async ({ continuation, maxItemCount }) => {
    if (!collection.read()) return null;
    if (!body.query) {
      res.statusCode = 400;
      return { code: "BadRequest", message: "missing query" };
    }
    const docs = documentsOf(collection, partitionOf(req));
    const indexing = collection.read().indexingPolicy ?? {};
    try {
      return collection.documents._getQuery(body.query).exec(docs, {
        parameters: body.parameters,
        udf: collection.userDefinedFunctions.functions,
        maxItemCount,
        continuation,
        compositeIndexes: indexing.compositeIndexes ?? [],
      });
    } catch (error) {
      res.statusCode = 400;
      return { code: "BadRequest", message: error.message };
    }
  });
}

const batchOperation = {
  Create: operations.createOperation,
  Upsert: operations.upsertOperation,
  Read: operations.readOperation,
  Delete: operations.deleteOperation,
  Replace: operations.replaceOperation,
};

async function batchDocuments(account, req, res, { dbId, collId }) {
  const body = await readJson(req);
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) return notFound(res);
  if (!Array.isArray(body)) {
    res.statusCode = 400;
    return { code: "BadRequest", message: "a batch body is an array of operations" };
  }
  const atomic = isTrue(req, "x-ms-cosmos-batch-atomic");
  const items = collection.documents;
  const before = atomic && { data: new Map(items._data), index: new Map(items._index) };
  const header = req.headers["x-ms-documentdb-partitionkey"];
  const results = [];
  let failed = false;
  for (const op of body) {
    const run = batchOperation[op?.operationType];
    if (!run) {
      res.statusCode = 400;
      return { code: "BadRequest", message: `operation type '${op?.operationType}' is not supported in a batch` };
    }
    if (failed && atomic) {
      results.push({ statusCode: 424, requestCharge: 0 });
      continue;
    }
    const result = run(collection, { ...op, partitionKey: op.partitionKey ?? header });
    if (result.statusCode >= 400) {
      failed = true;
      results.push({ statusCode: result.statusCode, requestCharge: 0 });
    } else {
      results.push({ statusCode: result.statusCode, requestCharge: 1, eTag: result.body?._etag, resourceBody: result.body });
    }
  }
  if (failed && atomic) {
    items._data = before.data;
    items._index = before.index;
    res.statusCode = 207;
    return results.map((r) => (r.statusCode < 400 ? { statusCode: 424, requestCharge: 0 } : r));
  }
  return results;
}

async function readPartitionKeyRanges(account, req, res, params) {
  const body = await handlers.readPartitionKeyRanges(account, req, res, params);
  if (Array.isArray(body?.PartitionKeyRanges)) {
    body.PartitionKeyRanges = body.PartitionKeyRanges.map((r) => ({ ...r, id: String(r.id) }));
  }
  // The SDK reads the ranges as a change feed: the one range never changes after the first page.
  if (req.headers["a-im"] && res.statusCode === 200) {
    res.setHeader("etag", '"1"');
    if (req.headers["if-none-match"]) res.statusCode = 304;
  }
  return body;
}

async function readMeta(account, req, res, params) {
  const meta = await handlers.readMeta(account, req, res, params);
  if (secure) return meta;
  // The SDK follows the advertised regional endpoints, which must use the server's scheme.
  return JSON.parse(JSON.stringify(meta).replace(/"https:\/\//g, '"http://'));
}

/** Our answer for a route, or undefined to let the package's handler answer. */
function ours(handler, req) {
  if (handler === handlers.readDocuments && req.headers["a-im"]) return changeFeed;
  if (handler === handlers.readDocument) return readDocument;
  if (handler === handlers.queryDocuments) return queryDocuments;
  if (handler === handlers.batchDocuments) return batchDocuments;
  if (handler === handlers.readPartitionKeyRanges) return readPartitionKeyRanges;
  if (handler === handlers.readMeta) return readMeta;
  return undefined;
}

let account;

async function answer(req, res) {
  const found = route(req);
  if (!found) {
    res.statusCode = 400;
    return { code: "BadRequest", message: `no route for ${req.method} ${req.url}` };
  }
  const [params, handler] = found;
  try {
    return await (ours(handler, req) ?? handler)(account, req, res, params);
  } catch (error) {
    console.error(error);
    res.statusCode = 500;
    return { code: "InternalServerError", message: error.message };
  }
}

function serve(req, res) {
  answer(req, res).then((body) => {
    if (body?._etag && !res.getHeader("etag")) res.setHeader("etag", body._etag);
    res.setHeader("content-type", "application/json");
    res.setHeader("x-ms-activity-id", randomUUID());
    res.setHeader("x-ms-request-charge", "1");
    res.end(res.statusCode === 304 ? undefined : JSON.stringify(body ?? {}));
  });
}

const server = secure
  ? https.createServer(
      { cert: fs.readFileSync(path.join(pkg, "cert.pem")), key: fs.readFileSync(path.join(pkg, "key.pem")), keepAlive: true },
      serve,
    )
  : http.createServer({ keepAlive: true }, serve);

server.listen(port, "127.0.0.1", () => {
  const bound = server.address().port;
  account = new Account("127.0.0.1", bound);
  console.log(`ready ${secure ? "https" : "http"}://127.0.0.1:${bound}/`);
});
