//! What REST v2 does not offer, through GraphQL: account balance and spend, and GPU prices with
//! the lowest price for a GPU count. Runpod retires GraphQL in early 2027; these calls move to
//! REST as soon as it has them.

use std::time::Duration;

use runpod_transport::{Error, RetryPolicy};
use runpod_types::graphql::{gpus, user};

use crate::request::CallOptions;
use crate::{Account, AdminClient, Catalog, Result};

/// The account's identity, balance and spend rate (GraphQL `myself`).
pub type AccountBalance = user::myself::MyselfMyself;

/// The account's balance and spend in more detail (GraphQL `myself`).
pub type AccountSpend = user::my_spend::MySpendMyself;

/// A GPU type with its prices and the lowest current price for a GPU count: what the Python
/// SDK's `get_gpu(id, count)` returns (GraphQL `gpuTypes` + `lowestPrice`).
pub type GpuPricing = gpus::gpu_type::GpuTypeGpuTypes;

/// `lowestPrice` of a [`GpuPricing`]: the cheapest current offer for the requested GPU count.
pub type LowestPrice = gpus::gpu_type::GpuTypeGpuTypesLowestPrice;

impl Account {
    /// The account's balance, spend per hour and spend limit.
    pub fn balance(&self) -> GetAccountBalance {
        GetAccountBalance {
            client: self.client.clone(),
            options: CallOptions::default(),
        }
    }

    /// Balance and spend in detail: lifetime spend, minimum balance, spend per hour by kind.
    pub fn spend(&self) -> GetAccountSpend {
        GetAccountSpend {
            client: self.client.clone(),
            options: CallOptions::default(),
        }
    }
}

impl Catalog {
    /// Prices of one GPU type, with the lowest current price for
    /// [`gpu_count`](GetGpuPricing::gpu_count) GPUs (default 1).
    pub fn gpu_pricing(&self, gpu_type_id: impl Into<String>) -> GetGpuPricing {
        GetGpuPricing {
            client: self.client.clone(),
            id: gpu_type_id.into(),
            gpu_count: 1,
            options: CallOptions::default(),
        }
    }
}

/// Applies call options to a GraphQL query, which is always safe to retry.
fn prepare<Q: graphql_client::GraphQLQuery>(
    request: runpod_transport::GraphQlRequest<Q>,
    options: &CallOptions,
) -> runpod_transport::GraphQlRequest<Q> {
    let mut request = request.idempotent(true);
    if let Some(policy) = &options.retry {
        request = request.with_retry(policy.clone());
    }
    if let Some(t) = options.attempt_timeout {
        request = request.with_attempt_timeout(t);
    }
    if let Some(t) = options.operation_timeout {
        request = request.with_operation_timeout(t);
    }
    request
}

/// `myself` came back `null` (it does for a key the API does not accept): a decode error that
/// says what was expected.
fn missing<T: serde::de::DeserializeOwned>() -> Error {
    match runpod_transport::from_value::<T>(serde_json::Value::Null) {
        Err(e) => e,
        Ok(_) => Error::invalid_input("the response has no data"),
    }
}

macro_rules! call_options {
    () => {
        /// Uses this retry policy for this call instead of the client's.
        pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
            self.options.retry = Some(policy);
            self
        }

        /// Bounds each attempt of this call (`None`: no per-attempt bound).
        pub fn with_attempt_timeout(mut self, timeout: Option<Duration>) -> Self {
            self.options.attempt_timeout = Some(timeout);
            self
        }

        /// Bounds the whole call, retries included (`None`: no overall bound).
        pub fn with_operation_timeout(mut self, timeout: Option<Duration>) -> Self {
            self.options.operation_timeout = Some(timeout);
            self
        }
    };
}

/// Reads the account balance; from [`Account::balance`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct GetAccountBalance {
    client: AdminClient,
    options: CallOptions,
}

impl GetAccountBalance {
    call_options!();

    /// Sends the query.
    ///
    /// # Errors
    ///
    /// A transport error, `is_graphql()` when the API answers with errors, `is_decode()` when
    /// it answers without an account.
    pub async fn send(self) -> Result<AccountBalance> {
        let request = self
            .client
            .http()
            .graphql::<user::Myself>(user::myself::Variables);
        let data = prepare(request, &self.options).send().await?;
        data.myself.ok_or_else(missing::<AccountBalance>)
    }
}

/// Reads the account's spend in detail; from [`Account::spend`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct GetAccountSpend {
    client: AdminClient,
    options: CallOptions,
}

impl GetAccountSpend {
    call_options!();

    /// Sends the query.
    ///
    /// # Errors
    ///
    /// As [`GetAccountBalance::send`].
    pub async fn send(self) -> Result<AccountSpend> {
        let request = self
            .client
            .http()
            .graphql::<user::MySpend>(user::my_spend::Variables);
        let data = prepare(request, &self.options).send().await?;
        data.myself.ok_or_else(missing::<AccountSpend>)
    }
}

/// Reads a GPU type's prices; from [`Catalog::gpu_pricing`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct GetGpuPricing {
    client: AdminClient,
    id: String,
    gpu_count: i64,
    options: CallOptions,
}

impl GetGpuPricing {
    /// The number of GPUs `lowestPrice` is computed for (default 1).
    pub fn gpu_count(mut self, count: i64) -> Self {
        self.gpu_count = count;
        self
    }

    call_options!();

    /// Sends the query.
    ///
    /// `None` when there is no GPU type with this id (the Python SDK raises `ValueError`).
    ///
    /// # Errors
    ///
    /// As [`GetAccountBalance::send`]; `is_invalid_input()` for a GPU count below 1.
    pub async fn send(self) -> Result<Option<GpuPricing>> {
        if self.gpu_count < 1 {
            return Err(Error::invalid_input("gpu_count must be at least 1"));
        }
        let variables = gpus::gpu_type::Variables {
            id: self.id,
            gpu_count: self.gpu_count,
        };
        let request = self.client.http().graphql::<gpus::GpuType>(variables);
        let data = prepare(request, &self.options).send().await?;
        Ok(data
            .gpu_types
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .next())
    }
}
