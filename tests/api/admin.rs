//! The admin API: authentication and the first resources.

use crate::helpers::TestApp;

async fn admin_calls_need_a_valid_token(app: TestApp) {
    let url = app.admin_url("/accounts");
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    let body = TestApp::expect(none, 401).await;
    assert_eq!(body["error"], "unauthorized");
    assert!(body["message"].is_string());
    for bad in [
        "garbage",
        "tsa_x",
        &app.admin_token[..app.admin_token.len() - 1],
    ] {
        let r = app.client.get(&url).bearer_auth(bad).send().await.unwrap();
        assert_eq!(r.status(), 401, "{bad}");
    }
    // An unauthenticated request with a broken body is still a 401, not a 400.
    let r = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{broken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

backend_tests!(admin_calls_need_a_valid_token);
