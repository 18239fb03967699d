import { openSyncd, SyncdError } from "syncd";

// Without webdav.url, syncd serves an embedded share in <dataDir>/share (enough for a first try).
const syncd = await openSyncd({
  dataDir: "./syncd-data",
  webdav: { url: process.env.SYNCD_WEBDAV_URL, username: process.env.SYNCD_WEBDAV_USERNAME },
});
try {
  const entry = await syncd.add(Buffer.from("hello\n"), { name: "notes/hello.txt", meta: { year: 2021 } });
  let uploadedBytes = 0;
  const summary = await syncd.sync({
    signal: AbortSignal.timeout(120_000),
    onProgress: (e) => {
      if (e.phase === "upload") uploadedBytes = e.bytesDone;
    },
  });
  console.log(`synced ${entry.name}: ${summary.uploaded} uploaded (${uploadedBytes} bytes), share version ${summary.version}`);
  for (const c of syncd.conflicts()) await syncd.resolve(c.id, "keep_both");
} catch (err) {
  console.error(err instanceof SyncdError ? `${err.message} (exit code ${err.exitCode})` : err);
  process.exitCode = 1;
} finally {
  await syncd.close();
}
