//! Against the real API: `RUNPOD_API_KEY=… cargo test -p runpod-admin -- --ignored live`.
//! Read-only except one template, which is always deleted again.

use runpod_admin::AdminClient;

fn admin() -> AdminClient {
    assert!(
        std::env::var_os("RUNPOD_API_KEY").is_some(),
        "live tests need RUNPOD_API_KEY"
    );
    AdminClient::from_env().unwrap()
}

#[tokio::test]
#[ignore = "talks to the live Runpod API; needs RUNPOD_API_KEY"]
async fn live_list_calls() {
    let admin = admin();
    admin.pods().list().send().await.unwrap();
    admin.endpoints().list().send().await.unwrap();
    admin.templates().list().send().await.unwrap();
    admin.network_volumes().list().send().await.unwrap();
    admin.registries().list().send().await.unwrap();
    let gpus = admin.catalog().gpus().send().await.unwrap();
    assert!(!gpus.gpus.is_empty());
    admin.catalog().cpus().send().await.unwrap();
    admin.catalog().data_centers().send().await.unwrap();
    admin.account().ssh_keys().send().await.unwrap();
    admin.get_user().await.unwrap();
}

#[tokio::test]
#[ignore = "talks to the live Runpod API; needs RUNPOD_API_KEY"]
async fn live_template_create_and_delete() {
    let admin = admin();
    let name = format!("runpod-rs-live-{}", std::process::id());
    let template = admin
        .templates()
        .create(&name, "runpod/base:0.6.2-cpu")
        .serverless(true)
        .send()
        .await
        .unwrap();
    // Delete before asserting anything, so a failed check never leaves the template behind.
    let fetched = admin.templates().get(&template.id).send().await;
    let deleted = admin.templates().delete(&template.id).send().await;
    let fetched = fetched.unwrap();
    deleted.unwrap();
    assert_eq!(fetched.name, name);
    assert!(fetched.serverless);
    let gone = admin
        .templates()
        .get(&template.id)
        .send()
        .await
        .unwrap_err();
    assert!(gone.is_not_found());
}
