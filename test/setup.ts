// Loaded by mocha before every test file (see .mocharc.json).
process.env.TSDL_QUIET = process.env.TSDL_QUIET ?? "1";
