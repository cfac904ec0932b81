//! The stand-in's Account Management ListRegions (moto has none): the `aws` partition's
//! regions as kmsaudit knows them, enabled by default or opted in, except the fixture's
//! `regions_not_enabled` of the account asked about, which are DISABLED. Paged as the API
//! pages: `MaxResults` (1 to 50, default 20) and an opaque `NextToken`.

use std::collections::BTreeSet;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// The answer to one ListRegions request of `caller` (AccountId absent: the caller's own).
pub fn answer(
    caller: &str,
    request: &Value,
    not_enabled: &BTreeSet<(String, String)>,
) -> Response<Full<Bytes>> {
    answer_with(caller, request, |account, region| {
        if !kmsaudit_scanner::is_opt_in(region) {
            "ENABLED_BY_DEFAULT"
        } else if not_enabled.contains(&(account.to_string(), region.to_string())) {
            "DISABLED"
        } else {
            "ENABLED"
        }
    })
}

/// The same with each (account, region)'s `RegionOptStatus` from `status`.
pub fn answer_with(
    caller: &str,
    request: &Value,
    status: impl Fn(&str, &str) -> &'static str,
) -> Response<Full<Bytes>> {
    let account = request
        .get("AccountId")
        .and_then(Value::as_str)
        .unwrap_or(caller);
    let max = request
        .get("MaxResults")
        .and_then(Value::as_u64)
        .unwrap_or(20)
        .clamp(1, 50) as usize;
    let start: usize = request
        .get("NextToken")
        .and_then(Value::as_str)
        .and_then(|t| t.strip_prefix("regions-"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let all = kmsaudit_scanner::partition_regions("aws");
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|region| json!({"RegionName": region, "RegionOptStatus": status(account, region)}))
        .collect();
    let mut body = json!({ "Regions": page });
    if start + max < all.len() {
        body["NextToken"] = json!(format!("regions-{}", start + max));
    }
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("a valid header"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn pages_through_every_region_and_disables_the_fixtures_ones() {
        let not_enabled: BTreeSet<_> = [("222233334444".to_string(), "af-south-1".to_string())]
            .into_iter()
            .collect();
        let mut token: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let mut request = json!({"AccountId": "222233334444"});
            if let Some(t) = &token {
                request["NextToken"] = json!(t);
            }
            let resp = answer("111122223333", &request, &not_enabled);
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            let v: Value = serde_json::from_slice(&body).unwrap();
            let regions = v["Regions"].as_array().unwrap();
            assert!(regions.len() <= 20);
            seen.extend(regions.iter().cloned());
            match v["NextToken"].as_str() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), kmsaudit_scanner::partition_regions("aws").len());
        let status = |r: &str| {
            seen.iter()
                .find(|v| v["RegionName"] == r)
                .map(|v| v["RegionOptStatus"].as_str().unwrap().to_string())
        };
        assert_eq!(status("af-south-1").as_deref(), Some("DISABLED"));
        assert_eq!(status("us-east-1").as_deref(), Some("ENABLED_BY_DEFAULT"));
        assert_eq!(status("me-south-1").as_deref(), Some("ENABLED"));
    }
}
