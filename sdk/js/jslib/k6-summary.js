export function textSummary() { return ''; }
