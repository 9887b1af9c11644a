//! The catalog and the account: `gpus`, `billing`, `account`.

use runpod::admin::rest::{self, AvailabilityLevel, BillingBucketSize, CatalogInclude, Product};
use serde_json::{Value, json};

use crate::cli::{BillingArgs, Bucket, GpusCommand};
use crate::context::Context;
use crate::error::{CliResult, Doing};
use crate::output::to_value;
use crate::table::{ColumnKind, Table, at, cell};

pub(crate) async fn gpus(ctx: &Context, command: GpusCommand) -> CliResult {
    let admin = ctx.admin()?;
    let base = admin.http().config().rest_base_url().to_owned();
    match command {
        GpusCommand::List {
            available,
            min_memory,
        } => {
            let doing = Doing::new("list GPU types", &base);
            let mut request = admin.catalog().gpus();
            if available {
                request = request
                    .include([CatalogInclude::Availability])
                    .product([Product::Pod]);
            }
            let mut list = request.send().await.map_err(doing.err())?;
            list.gpus.retain(|gpu| {
                min_memory.is_none_or(|min| gpu.memory >= min)
                    && (!available || can_rent(gpu.availability.as_ref()))
            });
            if ctx.out.is_json() {
                return ctx.out.json(&list);
            }
            ctx.out.table(&gpu_table(&list.gpus, available)?)
        }
        GpusCommand::Get(id) => {
            let doing = Doing::new(format!("get GPU type {}", id.id), &base);
            let gpu = admin
                .catalog()
                .gpu(&id.id)
                .send()
                .await
                .map_err(doing.err())?;
            ctx.out.object(&gpu)
        }
    }
}

/// Any availability but NONE; a GPU type without the field (not asked for) counts as rentable.
fn can_rent(level: Option<&AvailabilityLevel>) -> bool {
    !matches!(level, Some(AvailabilityLevel::None))
}

/// ID, name, memory and the three prices per GPU and hour; availability when asked for.
fn gpu_table(gpus: &[rest::GpuType], availability: bool) -> CliResult<Table> {
    let mut headers = vec![
        "ID",
        "NAME",
        "MEM GB",
        "SECURE $/H",
        "COMMUNITY $/H",
        "SERVERLESS $/H",
    ];
    if availability {
        headers.push("AVAILABILITY");
    }
    let mut table = Table::new(headers);
    for i in 2..=5 {
        table = table.kind(i, ColumnKind::Number);
    }
    if availability {
        table = table.kind(6, ColumnKind::Status);
    }
    for gpu in gpus {
        let value = to_value(gpu)?;
        let mut row = vec![
            at(&value, "/id"),
            at(&value, "/name"),
            at(&value, "/memory"),
            price(gpu.price.secure),
            price(gpu.price.community),
            gpu.price.serverless.map_or_else(|| "-".to_owned(), price),
        ];
        if availability {
            row.push(at(&value, "/availability"));
        }
        table.push(row);
    }
    Ok(table)
}

/// `0.69`; zero means "not offered".
fn price(p: f64) -> String {
    if p > 0.0 {
        format!("{p:.2}")
    } else {
        "-".to_owned()
    }
}

pub(crate) async fn billing(ctx: &Context, args: BillingArgs) -> CliResult {
    let admin = ctx.admin()?;
    let doing = Doing::new("get billing history", admin.http().config().rest_base_url());
    let mut request = admin.billing().aggregated().bucket_size(match args.bucket {
        Bucket::Hour => BillingBucketSize::Hour,
        Bucket::Day => BillingBucketSize::Day,
        Bucket::Week => BillingBucketSize::Week,
        Bucket::Month => BillingBucketSize::Month,
        Bucket::Year => BillingBucketSize::Year,
    });
    if let Some(start) = args.start {
        request = request.start_time(start);
    }
    if let Some(end) = args.end {
        request = request.end_time(end);
    }
    let history = request.send().await.map_err(doing.err())?;
    if ctx.out.is_json() {
        return ctx.out.json(&history);
    }
    let mut table = Table::new([
        "PERIOD START",
        "TOTAL $",
        "PODS $",
        "SERVERLESS $",
        "STORAGE $",
        "OTHER $",
    ]);
    for i in 1..=5 {
        table = table.kind(i, ColumnKind::Number);
    }
    for record in &history.records {
        table.push(billing_row(&record.start_time, &to_value(record)?));
    }
    table.push(billing_row("total", &to_value(&history.metadata.totals)?));
    ctx.out.table(&table)
}

/// Amounts grouped by product; "other" is clusters and public endpoints.
fn billing_row(label: &str, amounts: &Value) -> Vec<String> {
    let sum = |keys: &[&str]| -> f64 {
        keys.iter()
            .filter_map(|k| amounts.get(*k).and_then(Value::as_f64))
            // Not `sum()`: an empty float sum is -0.0, which prints as "-0.00".
            .fold(0.0, |a, b| a + b)
    };
    let money = |x: f64| format!("{x:.2}");
    vec![
        label.to_owned(),
        money(sum(&["totalAmount"])),
        money(sum(&["podGpuAmount", "podCpuAmount", "podDiskAmount"])),
        money(sum(&[
            "serverlessGpuAmount",
            "serverlessCpuAmount",
            "serverlessDiskAmount",
            "serverlessFeeAmount",
        ])),
        money(sum(&[
            "storageStandardAmount",
            "storageHighPerformanceAmount",
        ])),
        money(sum(&[
            "clusterGpuAmount",
            "clusterDiskAmount",
            "clusterNetworkingAmount",
            "endpointAmount",
        ])),
    ]
}

pub(crate) async fn account(ctx: &Context) -> CliResult {
    let admin = ctx.admin()?;
    let doing = Doing::new("get the account", admin.http().config().graphql_url());
    let me = admin
        .account()
        .balance()
        .send()
        .await
        .map_err(doing.err())?;
    // The GraphQL model is not `Serialize`; these are its wire names.
    let value = json!({
        "id": me.id,
        "email": me.email,
        "clientBalance": me.client_balance,
        "currentSpendPerHr": me.current_spend_per_hr,
        "spendLimit": me.spend_limit,
    });
    if ctx.out.is_json() {
        return ctx.out.json(&value);
    }
    let mut table = Table::new(["FIELD", "VALUE"]);
    for (label, key) in [
        ("id", "id"),
        ("email", "email"),
        ("balance $", "clientBalance"),
        ("spend $/h", "currentSpendPerHr"),
        ("spend limit $", "spendLimit"),
    ] {
        table.push([label.to_owned(), cell(&value[key])]);
    }
    ctx.out.table(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_of_zero_mean_not_offered() {
        assert_eq!(price(0.0), "-");
        assert_eq!(price(0.694), "0.69");
    }

    #[test]
    fn only_none_availability_is_not_rentable() {
        assert!(can_rent(None));
        assert!(can_rent(Some(&AvailabilityLevel::Low)));
        assert!(!can_rent(Some(&AvailabilityLevel::None)));
    }

    #[test]
    fn billing_rows_group_products() {
        let row = billing_row(
            "2026-01-01",
            &json!({"totalAmount": 3.5, "podGpuAmount": 1.0, "podDiskAmount": 0.5, "serverlessFeeAmount": 2.0}),
        );
        assert_eq!(row, ["2026-01-01", "3.50", "1.50", "2.00", "0.00", "0.00"]);
    }
}
