// Node cases for the real-program suite (apps.py): `node node_cases.js CASE` prints one
// line, the case's result, which must be the same on the kernel and through uepoll.
'use strict';
const fs = require('fs');
const cases = {
  // Workers that read a file each (libuv's thread pool and its own close path), message
  // round trips with the main thread.
  worker_threads() {
    const { Worker } = require('worker_threads');
    const n = 4;
    let done = 0;
    let sum = 0;
    const expected = fs.readFileSync(__filename).length;
    for (let i = 0; i < n; i++) {
      const w = new Worker(`
        const { parentPort } = require('worker_threads');
        const fs = require('fs');
        parentPort.on('message', (m) => {
          if (m === 'stop') { parentPort.close(); return; }
          parentPort.postMessage(fs.readFileSync(${JSON.stringify(__filename)}).length + m);
        });`, { eval: true });
      let rounds = 0;
      w.on('message', (len) => {
        sum += len - rounds;
        if (++rounds < 50) { w.postMessage(rounds); return; }
        w.postMessage('stop');
      });
      w.on('exit', () => {
        if (++done < n) return;
        // Each worker's loop closed its epoll instance and eventfd with syscall(SYS_close):
        // files opened now take those numbers, and must read as files.
        let after = 0;
        for (let k = 0; k < 10; k++) after += fs.readFileSync(__filename).length;
        console.log(`workers ${n}, reads right: ${sum === n * 50 * expected}, after: ${after === 10 * expected}`);
      });
      w.postMessage(0);
    }
  },
  // Children through pipes: execFile's output, a spawned cat fed 256 KiB, an exit code.
  child_process() {
    const cp = require('child_process');
    cp.execFile('echo', ['hello'], (err, out) => {
      const blob = Buffer.alloc(1 << 18, 'x');
      const cat = cp.spawn('cat');
      const chunks = [];
      cat.stdout.on('data', (c) => chunks.push(c));
      cat.on('close', (code) => {
        const same = Buffer.concat(chunks).equals(blob);
        cp.exec('exit 3', (e) => {
          console.log(`echo ${JSON.stringify(out)} err ${err}; cat ${same} rc ${code}; shell rc ${e && e.code}`);
        });
      });
      cat.stdin.end(blob);
    });
  },
};
cases[process.argv[2]]();
