// Loads one page in headless Chromium (Debian's package) and reports, as one
// JSON line on stdout, what happened: the main response, console errors,
// uncaught page errors, every request that failed and every response seen.
// Used by the Rust tests of the status page and of the tunnel
// (docs/operations.md, "Browser tests"); it asserts nothing itself.
//
//   node load.mjs --url URL [--proxy socks5://HOST:PORT] [--screenshot PNG]
//                 [--width 1280] [--height 900] [--timeout-ms 30000]
//                 [--wait-for-title PREFIX]
//
// With --proxy every request goes through the proxy, loopback included
// (Chromium bypasses loopback by default; `<-loopback>` turns that off).
// The browser binary is $VEIL_CHROMIUM, else /usr/bin/chromium.
import { chromium } from "playwright-core";

function parseArgs(argv) {
  const args = { width: 1280, height: 900, timeoutMs: 30000 };
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`missing value for ${key}`);
    switch (key) {
      case "--url": args.url = value; break;
      case "--proxy": args.proxy = value; break;
      case "--screenshot": args.screenshot = value; break;
      case "--width": args.width = Number(value); break;
      case "--height": args.height = Number(value); break;
      case "--timeout-ms": args.timeoutMs = Number(value); break;
      case "--wait-for-title": args.waitForTitle = value; break;
      default: throw new Error(`unknown argument ${key}`);
    }
  }
  if (!args.url) throw new Error("--url is required");
  return args;
}

function launchArgs(proxy) {
  // Without the background-networking flags Chromium keeps trying hosts
  // this closed network refuses (see the machine notes in docs/operations.md).
  const base = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-dev-shm-usage",
  ];
  return proxy ? [...base, `--proxy-server=${proxy}`, "--proxy-bypass-list=<-loopback>"] : base;
}

async function run(args) {
  const report = {
    ok: false, status: null, title: null, consoleErrors: [], pageErrors: [],
    failedRequests: [], responses: [], error: null,
  };
  const browser = await chromium.launch({
    executablePath: process.env.VEIL_CHROMIUM || "/usr/bin/chromium",
    args: launchArgs(args.proxy),
    timeout: args.timeoutMs,
  });
  try {
    const page = await browser.newPage({ viewport: { width: args.width, height: args.height } });
    page.on("console", (m) => { if (m.type() === "error") report.consoleErrors.push(m.text()); });
    page.on("pageerror", (e) => report.pageErrors.push(String(e)));
    page.on("requestfailed", (r) => report.failedRequests.push({ url: r.url(), error: r.failure()?.errorText ?? "" }));
    page.on("response", (r) => report.responses.push({ url: r.url(), status: r.status() }));
    try {
      const response = await page.goto(args.url, { waitUntil: "load", timeout: args.timeoutMs });
      report.status = response ? response.status() : null;
      if (args.waitForTitle) {
        await page.waitForFunction((p) => document.title.startsWith(p), args.waitForTitle, { timeout: args.timeoutMs });
      }
      report.title = await page.title();
      if (args.screenshot) await page.screenshot({ path: args.screenshot, fullPage: true });
      report.ok = true;
    } catch (e) {
      report.error = String(e.message ?? e).split("\n")[0];
    }
  } finally {
    await browser.close();
  }
  return report;
}

try {
  const report = await run(parseArgs(process.argv.slice(2)));
  console.log(JSON.stringify(report));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e.message ?? e) }));
  process.exitCode = 2;
}
