// Runs the official JavaScript Hub client (@huggingface/hub) against ggufy's fake Hub and
// prints what it saw as JSON, for hub's TestJSClientInterop to check. Inputs come from the
// environment:
//
//   HFJS_PKG   the installed @huggingface/hub folder (scripts/hubjs.sh prints it)
//   HUB_URL    the fake Hub
//   TOKEN      a token with write access to the "alice" namespace
//   GO_CACHE   a hub cache ggufy filled with acme/tiny at GO_SHA
//   GO_FILES   comma-separated files ggufy put in that snapshot
//   JS_CACHE   an empty folder for the JS client's cache
//   DEAD_URL   an endpoint nothing listens on
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const env = process.env;
// The client logs progress with console.debug: keep stdout for our JSON.
for (const k of ["debug", "info", "log", "warn"]) console[k] = (...a) => process.stderr.write(a.join(" ") + "\n");
const hub = await import(pathToFileURL(join(env.HFJS_PKG, "dist", "index.mjs")).href);
const hubUrl = env.HUB_URL;
const out = {};
const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

async function step(name, fn) {
	try {
		out[name] = await fn();
	} catch (err) {
		out[name] = { error: String(err?.message ?? err), statusCode: err?.statusCode ?? null };
	}
}

await step("modelInfo", async () => {
	const info = await hub.modelInfo({ name: "acme/tiny", hubUrl, additionalFields: ["sha"] });
	return { name: info.name, sha: info.sha, private: info.private, gated: info.gated };
});

await step("listFiles", async () => {
	const files = [];
	for await (const f of hub.listFiles({ repo: "acme/tiny", recursive: true, hubUrl })) {
		files.push({ path: f.path, type: f.type, size: f.size, oid: f.oid, lfs: f.lfs?.oid ?? null });
	}
	return files;
});

await step("pathsInfo", async () => {
	const info = await hub.pathsInfo({ repo: "acme/tiny", paths: ["config.json", "model-00001-of-00002.safetensors", "onnx"], expand: true, hubUrl });
	return info.map((p) => ({ path: p.path, type: p.type, oid: p.oid, lfs: p.lfs?.oid ?? null, lastCommit: p.lastCommit?.id ?? null }));
});

await step("fileDownloadInfo", async () => {
	const lfs = await hub.fileDownloadInfo({ repo: "acme/tiny", path: "model-00001-of-00002.safetensors", hubUrl });
	const reg = await hub.fileDownloadInfo({ repo: "acme/tiny", path: "config.json", hubUrl });
	return { lfs: { size: lfs.size, etag: lfs.etag }, regular: { size: reg.size, etag: reg.etag } };
});

await step("downloadFile", async () => {
	const res = {};
	for (const path of ["config.json", "model-00001-of-00002.safetensors", "onnx/model.onnx"]) {
		const blob = await hub.downloadFile({ repo: "acme/tiny", path, hubUrl });
		res[path] = sha256(Buffer.from(await blob.arrayBuffer()));
	}
	// A ranged read of an LFS file, as the JS client does for safetensors headers.
	const blob = await hub.downloadFile({ repo: "acme/tiny", path: "model-00002-of-00002.safetensors", hubUrl });
	res.slice = sha256(Buffer.from(await blob.slice(1000, 5000).arrayBuffer()));
	return res;
});

await step("missingFile", async () => {
	const blob = await hub.downloadFile({ repo: "acme/tiny", path: "nope.json", hubUrl });
	return blob === null ? "null" : "blob";
});

await step("gatedAnonymous", async () => {
	await hub.downloadFile({ repo: "meta/gated", path: "config.json", hubUrl });
	return "downloaded";
});

await step("snapshotDownload", async () => {
	return await hub.snapshotDownload({ repo: "acme/tiny", cacheDir: env.JS_CACHE, hubUrl, revision: "main" });
});

// Our cache, read by the JS client: by commit, a cached file is returned without network.
await step("readGoCache", async () => {
	const res = {};
	for (const path of env.GO_FILES.split(",")) {
		const p = await hub.downloadFileToCacheDir({ repo: "acme/tiny", path, revision: env.GO_SHA, cacheDir: env.GO_CACHE, hubUrl: env.DEAD_URL });
		res[path] = { pointer: p, sha256: sha256(await readFile(p)) };
	}
	return res;
});

await step("scanGoCache", async () => {
	const scan = await hub.scanCacheDir(env.GO_CACHE);
	return scan.repos.map((r) => ({
		id: r.id,
		filesCount: r.filesCount,
		revisions: r.revisions.map((v) => ({ commitOid: v.commitOid, refs: v.refs, files: v.files.map((f) => f.path).sort() })),
	}));
});

await step("createRepo", async () => {
	const r = await hub.createRepo({ repo: "alice/js-upload", accessToken: env.TOKEN, hubUrl });
	return r.repoUrl;
});

await step("uploadFiles", async () => {
	const gguf = Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(200_000, 7)]);
	const res = await hub.uploadFiles({
		repo: "alice/js-upload",
		accessToken: env.TOKEN,
		hubUrl,
		files: [
			{ path: "model-Q8_0.gguf", content: new Blob([gguf]) },
			{ path: "README.md", content: new Blob(["# uploaded by @huggingface/hub\n"]) },
		],
		commitTitle: "upload from JS",
	});
	return { oid: res?.commit?.oid ?? null, sha256: sha256(gguf) };
});

await step("uploadAgain", async () => {
	// Same content again: the LFS batch answer has no upload action for it.
	const gguf = Buffer.concat([Buffer.from("GGUF"), Buffer.alloc(200_000, 7)]);
	const res = await hub.uploadFiles({
		repo: "alice/js-upload", accessToken: env.TOKEN, hubUrl,
		files: [{ path: "copy-Q8_0.gguf", content: new Blob([gguf]) }],
		commitTitle: "same bytes, new name",
	});
	return { oid: res?.commit?.oid ?? null };
});

await step("whoAmI", async () => {
	const me = await hub.whoAmI({ accessToken: env.TOKEN, hubUrl });
	return me.name;
});

process.stdout.write(JSON.stringify(out));
