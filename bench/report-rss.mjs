// Preloaded (NODE_OPTIONS=--import) into a node process measured on a machine without GNU time:
// at exit it prints the process's own peak resident set size on stderr as "peak-rss-kib <n>".
process.on('exit', () => {
  process.stderr.write(`peak-rss-kib ${process.resourceUsage().maxRSS}\n`);
});
