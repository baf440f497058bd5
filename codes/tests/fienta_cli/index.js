// Stands in for the merchant's Fienta CLI (`npm run dev -- --csv ... --email ... --password ...`)
// in the codes tests. It honours the CLI's flags, prints what it does line by line, and records
// each invocation (its flags and the FIENTA_* variables it saw) in $HOME/fienta-invocation.json.
//
// Asked by the environment (FIENTA_CLI_ENV_ALLOWLIST passes these through):
//   FAKE_FIENTA_EXIT=<n>      print a few lines, then exit with code n
//   FAKE_FIENTA_SLEEP=<s>     wait s seconds after logging in (timeouts, cancel)
"use strict";

const fs = require("fs");
const path = require("path");

const BOOLEAN_FLAGS = new Set(["headless", "dryRun"]);

function parseFlags(argv) {
  const flags = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (!arg.startsWith("--")) {
      throw new Error(`unexpected argument ${arg}`);
    }
    const name = arg.slice(2);
    if (BOOLEAN_FLAGS.has(name)) {
      flags[name] = true;
    } else {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      flags[name] = argv[i + 1];
      i += 1;
    }
  }
  return flags;
}

function readCodes(file) {
  const lines = fs.readFileSync(file, "utf8").split(/\r?\n/).filter((line) => line.trim());
  const header = lines.shift().split(",");
  const column = header.indexOf("code");
  return lines.map((line) => line.split(",")[column === -1 ? 0 : column]);
}

function pad(number, length) {
  const text = String(number);
  return text.length >= length ? text : "0".repeat(length - text.length) + text;
}

function sleep(seconds) {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  const record = {
    flags,
    env: {
      FIENTA_EMAIL: process.env.FIENTA_EMAIL || null,
      FIENTA_PASSWORD: process.env.FIENTA_PASSWORD || null,
    },
  };
  fs.writeFileSync(
    path.join(process.env.HOME || ".", "fienta-invocation.json"),
    JSON.stringify(record, null, 2),
  );
  if (!flags.email || !flags.password) {
    console.error("Missing --email or --password");
    process.exit(2);
  }
  console.log(`Logging in to Fienta as ${flags.email} (password ${flags.password})`);
  console.log(`Environment: FIENTA_EMAIL=${process.env.FIENTA_EMAIL} FIENTA_PASSWORD=${process.env.FIENTA_PASSWORD}`);
  console.log(`Browser: ${flags.headless ? "headless" : "headed"}${flags.dryRun ? ", dry run" : ""}`);
  const sleepFor = Number(process.env.FAKE_FIENTA_SLEEP || 0);
  if (sleepFor > 0) {
    console.log(`waiting ${sleepFor} s`);
    await sleep(sleepFor);
  }
  const exitCode = Number(process.env.FAKE_FIENTA_EXIT || 0);
  if (exitCode) {
    console.log("Opening the discount codes page");
    console.error(`Error: login failed for ${flags.email}`);
    process.exit(exitCode);
  }
  const verb = flags.dryRun ? "would" : "did";
  if (flags.diffOld || flags.diffNew) {
    console.log(`diff ${flags.diffOld} -> ${flags.diffNew}`);
  } else {
    const codes = readCodes(flags.csv);
    codes.forEach((code, index) => {
      if (flags.renamePrefix !== undefined) {
        const number = Number(flags.renameStart || 1) + index;
        const renamed = flags.renamePrefix + pad(number, Number(flags.renamePadLength || 0));
        console.log(`${verb} rename ${code} -> ${renamed}`);
      } else if (flags.updateDiscountPercent !== undefined) {
        console.log(`${verb} set ${code} to ${flags.updateDiscountPercent}%`);
      } else {
        console.log(`${verb} create ${code}`);
      }
      console.log(`PROGRESS ${Math.round((100 * (index + 1)) / codes.length)} codes`);
    });
  }
  console.log("Done");
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
