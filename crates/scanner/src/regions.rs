//! Which regions to scan when the user names none.
//!
//! No EC2 DescribeRegions (aws-sdk-ec2 is enormous and needs ec2:DescribeRegions): the scanner
//! starts from the partition's region list below and lets each account's own ListKeys answer.
//! An opt-in region the account has not enabled rejects its credentials
//! (UnrecognizedClientException): that region is recorded SKIPPED, not as an error. Regions
//! enabled by default cannot be disabled, so the same answer there is an error. The ListKeys
//! call is one the scan makes anyway: discovery costs no extra call. A region AWS opens after
//! this release is scanned only when named with `--regions`.

/// Regions enabled in every account of the `aws` partition.
const AWS_DEFAULT: &[&str] = &[
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-north-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Opt-in regions of the `aws` partition.
const AWS_OPT_IN: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

/// Every region of the partition, sorted.
pub fn partition_regions(partition: &str) -> Vec<String> {
    let mut out: Vec<String> = match partition {
        "aws-cn" => vec!["cn-north-1".into(), "cn-northwest-1".into()],
        "aws-us-gov" => vec!["us-gov-east-1".into(), "us-gov-west-1".into()],
        _ => AWS_DEFAULT
            .iter()
            .chain(AWS_OPT_IN)
            .map(|s| s.to_string())
            .collect(),
    };
    out.sort();
    out
}

/// Whether an account may have the region disabled.
pub fn is_opt_in(region: &str) -> bool {
    AWS_OPT_IN.contains(&region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_disjoint_and_sorted() {
        let all = partition_regions("aws");
        assert_eq!(all.len(), AWS_DEFAULT.len() + AWS_OPT_IN.len());
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert!(is_opt_in("af-south-1"));
        assert!(!is_opt_in("us-east-1"));
        assert_eq!(
            partition_regions("aws-cn"),
            vec!["cn-north-1", "cn-northwest-1"]
        );
    }
}
