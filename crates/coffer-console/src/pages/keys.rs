//! KMS keys: state, rotation status and history, aliases, policy, deletion window; create,
//! enable, disable, rotate now, schedule or cancel deletion. Anything destructive asks
//! first (a confirmation page whose form carries `confirm=yes`).

use std::collections::HashMap;

use askama::Template;
use http::Response;
use s3s::Body;
use serde_json::{Value, json};

use super::{Frame, api_error, render};
use crate::Ctx;
use crate::api::ApiError;
use crate::web::{self, enc};

pub struct KeyRow {
    pub id: String,
    pub aliases: String,
    pub description: String,
    pub state: String,
    pub manager: String,
    pub created: String,
    pub deletion: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn date(v: &Value) -> String {
    v.as_f64().map(web::date_from_seconds).unwrap_or_default()
}

fn row(meta: &Value, aliases: &[Value]) -> KeyRow {
    let id = text(&meta["KeyId"]);
    KeyRow {
        aliases: aliases
            .iter()
            .filter(|a| a["TargetKeyId"] == meta["KeyId"])
            .map(|a| text(&a["AliasName"]))
            .collect::<Vec<_>>()
            .join(", "),
        description: text(&meta["Description"]),
        state: text(&meta["KeyState"]),
        manager: text(&meta["KeyManager"]),
        created: date(&meta["CreationDate"]),
        deletion: date(&meta["DeletionDate"]),
        id,
    }
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    frame: Frame,
    rows: Vec<Result<KeyRow, ApiError>>,
}

async fn aliases(ctx: &Ctx, key: Option<&str>) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    let mut marker = Value::Null;
    loop {
        let mut req = json!({ "Limit": 100 });
        if let Some(k) = key {
            req["KeyId"] = json!(k);
        }
        if !marker.is_null() {
            req["Marker"] = marker.clone();
        }
        let page = ctx.user.kms("ListAliases", req).await?;
        out.extend(page["Aliases"].as_array().cloned().unwrap_or_default());
        if page["Truncated"] != json!(true) {
            return Ok(out);
        }
        marker = page["NextMarker"].clone();
    }
}

pub async fn list(ctx: &Ctx) -> Response<Body> {
    let mut keys = Vec::new();
    let mut marker = Value::Null;
    loop {
        let mut req = json!({ "Limit": 1000 });
        if !marker.is_null() {
            req["Marker"] = marker.clone();
        }
        match ctx.user.kms("ListKeys", req).await {
            Ok(page) => {
                keys.extend(page["Keys"].as_array().cloned().unwrap_or_default());
                if page["Truncated"] != json!(true) {
                    break;
                }
                marker = page["NextMarker"].clone();
            }
            Err(e) => return api_error(ctx, "keys", "KMS keys", &e),
        }
    }
    let aliases = aliases(ctx, None).await.unwrap_or_default();
    let described = futures::future::join_all(
        keys.iter()
            .map(|k| ctx.user.kms("DescribeKey", json!({ "KeyId": k["KeyId"] }))),
    )
    .await;
    let rows = described
        .into_iter()
        .map(|d| d.map(|d| row(&d["KeyMetadata"], &aliases)))
        .collect();
    render(&KeysPage {
        frame: Frame::of(ctx, "keys"),
        rows,
    })
}

pub struct Rotation {
    pub date: String,
    pub kind: String,
}

#[derive(Template)]
#[template(path = "key.html")]
struct KeyPage {
    frame: Frame,
    key: KeyRow,
    arn: String,
    usage: String,
    spec: String,
    rotation_enabled: Result<bool, ApiError>,
    rotation_period: String,
    next_rotation: String,
    rotations: Result<Vec<Rotation>, ApiError>,
    policy: Result<String, ApiError>,
    /// A destructive action awaiting confirmation.
    confirm: Option<String>,
    done: Option<String>,
}

pub async fn show(ctx: &Ctx, id: &str, q: &HashMap<String, String>) -> Response<Body> {
    let described = match ctx.user.kms("DescribeKey", json!({ "KeyId": id })).await {
        Ok(d) => d,
        Err(e) => return api_error(ctx, "keys", id, &e),
    };
    let meta = &described["KeyMetadata"];
    let key_id = text(&meta["KeyId"]);
    let (aliases, rotation, rotations, policy) = futures::join!(
        aliases(ctx, Some(&key_id)),
        ctx.user
            .kms("GetKeyRotationStatus", json!({ "KeyId": key_id })),
        ctx.user.kms(
            "ListKeyRotations",
            json!({ "KeyId": key_id, "Limit": 1000 })
        ),
        ctx.user.kms(
            "GetKeyPolicy",
            json!({ "KeyId": key_id, "PolicyName": "default" })
        ),
    );
    let rotation_period = rotation
        .as_ref()
        .ok()
        .map(|r| text(&r["RotationPeriodInDays"]))
        .unwrap_or_default();
    let next_rotation = rotation
        .as_ref()
        .ok()
        .map(|r| date(&r["NextRotationDate"]))
        .unwrap_or_default();
    let confirm = q
        .get("confirm")
        .filter(|a| ["disable", "schedule-deletion"].contains(&a.as_str()))
        .cloned();
    render(&KeyPage {
        frame: Frame::of(ctx, "keys"),
        key: row(meta, &aliases.unwrap_or_default()),
        arn: text(&meta["Arn"]),
        usage: text(&meta["KeyUsage"]),
        spec: text(&meta["KeySpec"]),
        rotation_enabled: rotation.map(|r| r["KeyRotationEnabled"] == json!(true)),
        rotation_period,
        next_rotation,
        rotations: rotations.map(|r| {
            r["Rotations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| Rotation {
                    date: date(&r["RotationDate"]),
                    kind: text(&r["RotationType"]),
                })
                .collect()
        }),
        policy: policy.map(|p| {
            let text = text(&p["Policy"]);
            serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(text)
        }),
        confirm,
        done: q.get("done").cloned(),
    })
}

pub async fn create(ctx: &Ctx, form: &HashMap<String, String>) -> Response<Body> {
    let description = form.get("description").cloned().unwrap_or_default();
    let created = match ctx
        .user
        .kms("CreateKey", json!({ "Description": description }))
        .await
    {
        Ok(c) => c,
        Err(e) => return api_error(ctx, "keys", "Creating a key", &e),
    };
    let id = text(&created["KeyMetadata"]["KeyId"]);
    if let Some(alias) = form
        .get("alias")
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
    {
        let name = if alias.starts_with("alias/") {
            alias.to_owned()
        } else {
            format!("alias/{alias}")
        };
        if let Err(e) = ctx
            .user
            .kms(
                "CreateAlias",
                json!({ "AliasName": name, "TargetKeyId": id }),
            )
            .await
        {
            return api_error(ctx, "keys", "Naming the new key", &e);
        }
    }
    web::redirect(&format!(
        "/console/keys/{}?done={}",
        enc(&id),
        enc("Created.")
    ))
}

/// One action on a key; destructive ones need `confirm=yes` (else they ask first).
pub async fn act(
    ctx: &Ctx,
    id: &str,
    action: &str,
    form: &HashMap<String, String>,
) -> Response<Body> {
    let destructive = matches!(action, "disable" | "schedule-deletion");
    if destructive && form.get("confirm").map(String::as_str) != Some("yes") {
        return web::redirect(&format!(
            "/console/keys/{}?confirm={}",
            enc(id),
            enc(action)
        ));
    }
    let key = json!({ "KeyId": id });
    let (op, body, done) = match action {
        "enable" => ("EnableKey", key, "Enabled."),
        "disable" => ("DisableKey", key, "Disabled."),
        "rotate" => (
            "RotateKeyOnDemand",
            key,
            "Rotated: new key material is in use.",
        ),
        "enable-rotation" => ("EnableKeyRotation", key, "Automatic rotation is on."),
        "disable-rotation" => ("DisableKeyRotation", key, "Automatic rotation is off."),
        "cancel-deletion" => (
            "CancelKeyDeletion",
            key,
            "Deletion cancelled; the key is disabled until you enable it.",
        ),
        "schedule-deletion" => {
            let days: u64 = form
                .get("days")
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(30);
            (
                "ScheduleKeyDeletion",
                json!({ "KeyId": id, "PendingWindowInDays": days }),
                "Deletion scheduled.",
            )
        }
        _ => return super::not_found(ctx),
    };
    match ctx.user.kms(op, body).await {
        Ok(_) => web::redirect(&format!("/console/keys/{}?done={}", enc(id), enc(done))),
        Err(e) => api_error(ctx, "keys", op, &e),
    }
}
