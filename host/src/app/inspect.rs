//! `volley inspect`: the resolved options and schedules as JSON.

use super::run::serves_builtin_target;
use super::*;

/// `volley inspect`: the resolved options and schedules as JSON.
pub async fn inspect(args: &RunArgs) -> Result<serde_json::Value, AppError> {
    let p = prepare(args).await?;
    let scenarios: Vec<serde_json::Value> = p
        .test
        .scenarios
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or_default();
            v["max_vus"] = s.max_vus().into();
            v["description"] = s.description().into();
            v["schedule"] = serde_json::to_value(s.steps()).unwrap_or_default();
            v["segment"] = serde_json::json!({
                "max_vus": s.local_max_vus(&p.segment),
                "initial_vus": s.local_initial_vus(&p.segment),
                "schedule": s.local_steps(&p.segment),
                "shared_iterations": s.local_iterations(&p.segment),
            });
            v
        })
        .collect();
    let thresholds: serde_json::Map<String, serde_json::Value> = p
        .test
        .thresholds
        .iter()
        .map(|t| {
            let exprs: Vec<serde_json::Value> = t
                .specs
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "threshold": s.expr.source,
                        "abort_on_fail": s.abort_on_fail,
                        "delay_abort_eval_ms": s.delay_abort_eval.as_millis() as u64,
                    })
                })
                .collect();
            (t.selector.to_string(), exprs.into())
        })
        .collect();
    Ok(serde_json::json!({
        "plugin": p.origin,
        "execution_segment": p.segment.segment().to_string(),
        "execution_requirements": requirements(&p),
        "max_vus": p.test.max_vus(),
        "max_duration_ms": p.test.max_duration().as_millis() as u64,
        "env": p.test.env.iter().filter(|(k, _)| !p.system_env.contains(k)).collect::<std::collections::BTreeMap<_, _>>(),
        "scenarios": scenarios,
        "thresholds": thresholds,
        "summary": {
            "trend_stats": p.test.summary.trend_stats,
            "export": p.test.summary.export,
            "enabled": p.test.summary.enabled,
        },
        "sandbox": {
            "max_memory_bytes": p.test.sandbox.max_memory,
            "allowed_hosts": if serves_builtin_target(&p) {
                serde_json::json!(["the built-in Monte Carlo target (http://127.0.0.1 on a port chosen at start)"])
            } else {
                p.test.sandbox.allowed_hosts.iter().map(|h| h.as_str()).collect::<Vec<_>>().into()
            },
            "max_iteration_duration_ms": p.test.sandbox.max_iteration_duration.map(|d| d.as_millis() as u64),
            "cpu_budget_ms": p.test.sandbox.cpu_budget.map(|d| d.as_millis() as u64),
            "allow_imports": p.test.sandbox.allow_imports,
            "setup_timeout_ms": p.test.setup_timeout.as_millis() as u64,
            "teardown_timeout_ms": p.test.teardown_timeout.as_millis() as u64,
            "init_timeout_ms": crate::vu::INIT_TIMEOUT.as_millis() as u64,
        },
    }))
}

/// The planned VUs of this segment over the whole test (scenarios overlap; each keeps its VUs
/// reserved through its graceful stop), as changes in time.
fn requirements(p: &Prepared) -> Vec<Step> {
    let mut events: Vec<(std::time::Duration, usize, u32)> = Vec::new();
    for (i, sc) in p.test.scenarios.iter().enumerate() {
        // Every VU but a ramping scenario's is reserved from the start to the end.
        let steps = match sc.drive() {
            Drive::Closed(Closed::Steps { .. }) => sc.local_steps(&p.segment),
            Drive::Closed(Closed::For(_) | Closed::Iterations { .. } | Closed::External { .. })
            | Drive::Open(_) => vec![Step {
                at: std::time::Duration::ZERO,
                vus: sc.local_max_vus(&p.segment),
            }],
        };
        for st in &steps {
            events.push((sc.start_time + st.at, i, st.vus));
        }
        events.push((sc.max_end(), i, 0));
    }
    events.sort_by_key(|e| e.0);
    let mut current = vec![0u32; p.test.scenarios.len()];
    let mut out: Vec<Step> = Vec::new();
    for (at, i, vus) in events {
        current[i] = vus;
        let total = current.iter().sum();
        match out.last_mut() {
            Some(last) if last.at == at => last.vus = total,
            Some(last) if last.vus == total => {}
            _ => out.push(Step { at, vus: total }),
        }
    }
    out
}
