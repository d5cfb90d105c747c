//! Runs N requests through the gateway's in-process stack (`layers`) or through its
//! handler alone (`bare`), for counting instructions under callgrind:
//! `benches/callgrind.sh --stack` runs it with two values of N and reports the
//! difference per request.
//!
//!     stack_instructions bare|layers N
#![allow(missing_docs)]

use http_body_util::BodyExt;
use tower::ServiceExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: stack_instructions bare|layers N";
    let mode = args.next().ok_or(usage)?;
    let n: usize = args.next().ok_or(usage)?.parse()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let _pacer = gateway_example::server::TimerPacer::start(std::time::Duration::from_secs(1));
        let bare = benches::stack::handler();
        let stack = benches::stack::layers(benches::stack::handler());
        for _ in 0..n {
            let req = benches::stack::request();
            let body = match mode.as_str() {
                "bare" => {
                    bare.clone()
                        .oneshot(req)
                        .await?
                        .into_body()
                        .collect()
                        .await?
                }
                "layers" => {
                    let res = stack
                        .clone()
                        .oneshot(req.map(axum::body::Body::new))
                        .await?;
                    res.into_body().collect().await?
                }
                _ => return Err(usage.into()),
            };
            std::hint::black_box(body);
        }
        Ok(())
    })
}
