// Preloaded into a service by `--profile DIR` (NODE_OPTIONS=--require …): records a V8 CPU profile
// of the whole run and writes it to DIR/<service>-<pid>.cpuprofile when the process exits. Setup
// commands (migrate, create-topics) are left alone. Open the file in Chrome DevTools or speedscope.
const inspector = require('node:inspector');
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.BENCH_PROFILE_DIR;
const service = path.basename(path.dirname(path.dirname(process.argv[1] ?? '')));
if (dir && !process.argv[2]) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // The in-process session answers synchronously, so this completes before the process ends.
    session.post('Profiler.stop', (err, result) => {
      if (!err)
        fs.writeFileSync(
          path.join(dir, `${service}-${process.pid}.cpuprofile`),
          JSON.stringify(result.profile),
        );
    });
  });
}
