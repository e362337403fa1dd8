# make_fake_data.py — RECONSTRUCTED from the seed's description (shared/seed/README.md
# and the tutorial's `usage:` text); the original file is not part of the seed.
# It is kept only as the baseline for scripts/bench-fake.sh. Faithful on purpose:
# Faker('en_US') rows in a pandas DataFrame appended with `df.to_sql(...)` through
# SQLAlchemy + psycopg2, `--interval` declared as an integer (so `--interval 0.5`
# fails, as in the original), `--silent` through a str2bool. creek's replacement is
# `creek fake` (same flags). Needs: pip install faker pandas sqlalchemy psycopg2-binary
import argparse
import random
import time
from datetime import datetime

import pandas as pd
from faker import Faker
from sqlalchemy import create_engine


def str2bool(v):
    if isinstance(v, bool):
        return v
    if v.lower() in ('yes', 'true', 't', 'y', '1'):
        return True
    if v.lower() in ('no', 'false', 'f', 'n', '0'):
        return False
    raise argparse.ArgumentTypeError('Boolean value expected.')


parser = argparse.ArgumentParser(description='Generate fake data...')
parser.add_argument('--interval', type=int, default=0.5,
                    help='interval of generating fake data in seconds')
parser.add_argument('-n', type=int, default=1, help='sample size')
parser.add_argument('--connection-string', '-cs', dest='connection_string', type=str,
                    default='postgresql://postgres:postgres@localhost:5432/postgres',
                    help='Connection string to the database')
parser.add_argument('--silent', type=str2bool, nargs='?', const=True, default=False,
                    help='print fake data')

fake = Faker('en_US')


def make_customers(n):
    return pd.DataFrame([{
        'nome': fake.name(),
        'sexo': random.choice(['M', 'F']),
        'endereco': fake.address(),
        'telefone': fake.phone_number(),
        'email': fake.safe_email(),
        'foto': fake.image_url(),
        'nascimento': fake.date_of_birth(),
        'profissao': fake.job(),
        'dt_update': datetime.now(),
    } for _ in range(n)])


if __name__ == '__main__':
    args = parser.parse_args()
    print(args)
    engine = create_engine(args.connection_string)
    while True:
        df = make_customers(args.n)
        df.to_sql('customers', engine, if_exists='append', index=False)
        if not args.silent:
            print(df)
        time.sleep(args.interval)
