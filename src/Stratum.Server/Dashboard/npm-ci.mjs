// Installs the dashboard's npm packages (pinned by package-lock.json) into node_modules next to this file.
// Stratum.Server.csproj runs it before embedding the charting library. Several builds may run at once on
// one checkout (test projects built in parallel, ./stratum while tests build), so npm ci runs in a private
// scratch directory and its node_modules is renamed into place in one step: a build sees either no
// node_modules, a complete old one or a complete new one, never a half-written tree.
//
// Usage: node npm-ci.mjs SCRATCH_PARENT   (a directory on the same file system, e.g. the project's obj/)
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "node_modules");
const lock = join(here, "package-lock.json");
// npm writes this hidden lockfile last; the build's Inputs/Outputs compare it with package-lock.json.
const installedMarker = join(target, ".package-lock.json");

const fresh = () => existsSync(installedMarker) && statSync(installedMarker).mtimeMs >= statSync(lock).mtimeMs;

const parent = resolve(process.argv[2] ?? join(here, "..", "obj"));
mkdirSync(parent, { recursive: true });
const scratch = mkdtempSync(join(parent, "dashboard-npm-"));
try {
  process.exitCode = install(scratch);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

function install(scratch) {
  copyFileSync(join(here, "package.json"), join(scratch, "package.json"));
  copyFileSync(lock, join(scratch, "package-lock.json"));
  try {
    execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: scratch, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  } catch (error) {
    const output = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim() || error.message;
    console.error(`npm ci failed for the dashboard's packages (${lock}): ${output}`);
    console.error("The packages come from the npm registry (npm config get registry); an offline machine needs them in its npm cache.");
    return 1;
  }

  if (fresh()) {
    // Another build installed the same lockfile while this one ran: keep theirs.
    return 0;
  }

  try {
    // An outdated or partial install: move it aside first (rename does not replace a non-empty directory).
    if (existsSync(target)) renameSync(target, join(scratch, "previous"));
  } catch (error) {
    if (error.code !== "ENOENT") throw error; // a racing build moved it first
  }

  try {
    renameSync(join(scratch, "node_modules"), target);
  } catch (error) {
    if (!fresh()) {
      console.error(`could not move the installed packages into ${target}: ${error.message}`);
      return 1;
    }
  }

  return 0;
}
