#!/usr/bin/env node
// Compiles every contracts/src/**/*.sol with the pinned solc-js (package.json,
// exact version, lockfile) through standard JSON, and writes one
// deterministic artifact per deployable contract: artifacts/<Name>.json with its ABI,
// creation bytecode and runtime bytecode. Artifacts of contracts that no
// longer exist are removed. CI runs this and then `git diff --exit-code
// contracts/`, so edited Solidity with stale artifacts fails (docs/evm.md).
//
// Never downloads a compiler: solc.loadRemoteVersion is not used.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const ROOT = __dirname;
const SRC = path.join(ROOT, 'src');
const OUT = path.join(ROOT, 'artifacts');

// Pinned settings: the bytecode depends on each of them.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none' },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

function solFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...solFiles(p));
    else if (e.isFile() && e.name.endsWith('.sol')) out.push(p);
  }
  return out.sort();
}

function main() {
  const files = solFiles(SRC);
  const sources = {};
  for (const f of files) {
    // Source units are named by their path under contracts/ ("src/…"), so
    // imports between them resolve without a callback.
    sources[path.relative(ROOT, f).split(path.sep).join('/')] = { content: fs.readFileSync(f, 'utf8') };
  }
  const output = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings: SETTINGS })));
  const problems = output.errors || [];
  for (const e of problems) {
    if (e.severity === 'error' || e.severity === 'warning') process.stderr.write(e.formattedMessage + '\n');
  }
  if (problems.some((e) => e.severity === 'error')) process.exit(1);

  const written = new Set();
  for (const unit of Object.keys(output.contracts || {}).sort()) {
    for (const name of Object.keys(output.contracts[unit]).sort()) {
      if (written.has(name)) {
        process.stderr.write(`duplicate contract name ${name} (${unit})\n`);
        process.exit(1);
      }
      const c = output.contracts[unit][name];
      // Interfaces and abstract contracts have no code: nothing to deploy.
      if (c.evm.bytecode.object === '') continue;
      const artifact = {
        contractName: name,
        sourceName: unit,
        compiler: `solc-js ${solc.version()}`,
        settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion, bytecodeHash: 'none' },
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      };
      fs.mkdirSync(OUT, { recursive: true });
      fs.writeFileSync(path.join(OUT, name + '.json'), JSON.stringify(artifact, null, 2) + '\n');
      written.add(name + '.json');
    }
  }
  for (const f of fs.existsSync(OUT) ? fs.readdirSync(OUT) : []) {
    if (f.endsWith('.json') && !written.has(f)) fs.unlinkSync(path.join(OUT, f));
  }
  process.stdout.write(`contracts: ${files.length} source(s), ${written.size} artifact(s), solc ${solc.version()}\n`);
}

main();
