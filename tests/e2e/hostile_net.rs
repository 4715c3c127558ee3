//! Hostile plugins against the sandbox (issue 13): each test runs one attack and asserts the
//! observable defence.
